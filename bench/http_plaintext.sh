#!/usr/bin/env bash
# TechEmpower-style plaintext: sluice's http_hello against nginx (one worker,
# `return 200 "Hello, World!"`), both on loopback, measured with wrk in the same run.
#   bench/http_plaintext.sh path/to/http_hello [SECONDS] [CONNECTIONS]
# Servers are pinned to core 0 and wrk to core 1 when taskset is available.
# Prints a markdown table: plain keep-alive and pipelined (depth 16) req/s.
set -u
bin=${1:?usage: http_plaintext.sh path/to/http_hello [SECONDS] [CONNECTIONS]}
secs=${2:-5}
conns=${3:-64}
here=$(cd "$(dirname "$0")" && pwd)
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { echo "http_plaintext: $tool not installed (apt-get install -y wrk nginx)"; exit 1; }
done
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
# Request-only pipelining script (no per-response Lua callback: wrk stays fast).
# Correctness is checked by tests/http_server/real_clients.sh.
lua=$work/pipeline.lua
cat >"$lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, (tonumber(args[1]) or 1) do r[i] = wrk.format("GET", "/plaintext") end
  req = table.concat(r)
end
request = function() return req end
LUA
pin_server=() pin_wrk=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c 0) pin_wrk=(taskset -c 1)
fi
port_s=$((20000 + RANDOM % 20000))
port_n=$((port_s + 1))

"${pin_server[@]}" "$bin" --port "$port_s" >"$work/sluice.log" 2>&1 &
pids+=($!)

cat >"$work/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $work;
    proxy_temp_path $work;
    fastcgi_temp_path $work;
    uwsgi_temp_path $work;
    scgi_temp_path $work;
    server {
        listen 127.0.0.1:$port_n reuseport;
        location /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
CONF
"${pin_server[@]}" nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.out" 2>&1 &
pids+=($!)
sleep 0.5
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a server failed to start"; cat "$work"/*.log "$work/nginx.out"; exit 1; }; done

run() { # port depth -> req/s
    "${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${secs}s" -s "$lua" "http://127.0.0.1:$1/plaintext" -- "$2" >"$work/wrk.out" 2>&1
    if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
        echo "errors on port $1 depth $2:" >&2
        cat "$work/wrk.out" >&2
    fi
    awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out"
}
echo "wrk -t1 -c$conns -d${secs}s, server on core 0, wrk on core 1 (${pin_server[*]:-no pinning})"
echo
echo "| test | sluice http_hello req/s | nginx req/s | sluice / nginx |"
echo "|---|---:|---:|---:|"
for depth in 1 16; do
    run "$port_s" "$depth" >/dev/null # warm-up
    run "$port_n" "$depth" >/dev/null
    s=$(run "$port_s" "$depth")
    n=$(run "$port_n" "$depth")
    ratio=$(awk -v a="$s" -v b="$n" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    name=$([ "$depth" = 1 ] && echo "plaintext, keep-alive" || echo "plaintext, pipelined x$depth")
    echo "| $name | $s | $n | $ratio |"
done
