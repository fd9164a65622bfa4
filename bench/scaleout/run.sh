#!/usr/bin/env bash
# Scale-out: what a balancer hop costs and what a second process behind it buys.
# examples/http_hello (one loop each) answers TechEmpower plaintext; wrk drives
# keep-alive GETs (64 connections) at:
#   sluice direct                    one process, no balancer
#   haproxy -> 1 / 2 sluice          HAProxy 2.6 (one thread), round robin
#   nginx -> 1 / 2 sluice            nginx (one worker), round robin, upstream keep-alive
# Every configuration is checked with curl first, and wrk must see no socket error and
# no non-2xx. On this 2-core machine the balancer, the backends and wrk share the cores:
# the numbers show the hop's cost here, not how far the path scales on real machines.
#
#   bash bench/scaleout/run.sh            full: ROUNDS=3 x SECONDS_PER_CELL=5, writes docs/bench/scaleout.md
#   bash bench/scaleout/run.sh --smoke    CI: 1 s cells
# Both write build/bench/scaleout.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0; secs=${SECONDS_PER_CELL:-5}; rounds=${ROUNDS:-3}
case "${1:-}" in
  --smoke) smoke=1; secs=1; rounds=1 ;;
  "") ;;
  *) echo "usage: bash bench/scaleout/run.sh [--smoke]" >&2; exit 2 ;;
esac

source bench/lib.sh
bench_install nginx:nginx haproxy:haproxy wrk:wrk curl:curl
nginx=$(command -v nginx || echo /usr/sbin/nginx)
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)

out=build/bench/scaleout
mkdir -p "$out"
g++ -O2 -DNDEBUG -std=c++17 -pthread -Iinclude examples/http_hello.cpp -o "$out/http_hello"

work=$(mktemp -d /tmp/sluice-scaleout.XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

port=23400
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "FAIL: nothing listens on port $1"; exit 1
}
backends() { # N: starts N http_hello, sets $ports
  ports=()
  for _ in $(seq "$1"); do
    port=$((port + 1))
    "$out/http_hello" --port $port >/dev/null 2>&1 &
    pids+=($!); ports+=($port)
  done
  for p in "${ports[@]}"; do wait_port "$p"; done
}
start_haproxy() { # FRONT PORT...
  local front=$1; shift
  {
    echo "global"; echo "  nbthread 1"; echo "  maxconn 4096"
    echo "defaults"; echo "  mode http"; echo "  timeout connect 1s"
    echo "  timeout client 30s"; echo "  timeout server 30s"; echo "  option http-keep-alive"
    echo "frontend web"; echo "  bind 127.0.0.1:$front"; echo "  default_backend sluice"
    echo "backend sluice"; echo "  balance roundrobin"
    for p in "$@"; do echo "  server s$p 127.0.0.1:$p"; done
  } >"$work/haproxy.cfg"
  "$haproxy" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  pids+=($!)
  wait_port "$front"
}
start_nginx() { # FRONT PORT...
  local front=$1; shift
  mkdir -p "$work/nginx"
  {
    echo "daemon off; worker_processes 1; pid $work/nginx/nginx.pid;"
    echo "error_log $work/nginx/error.log error;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; keepalive_requests 100000000;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $work/nginx;"; done
    echo "  upstream sluice {"
    for p in "$@"; do echo "    server 127.0.0.1:$p;"; done
    echo "    keepalive 64; }"
    echo "  server { listen 127.0.0.1:$front;"
    echo "    location / { proxy_pass http://sluice; proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\"; } } }"
  } >"$work/nginx/nginx.conf"
  "$nginx" -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$front"
}
wrk_cell() { # URL -> req/s, or fail
  curl -sf "$1" | grep -qx 'Hello, World!' || { echo "FAIL: $1 does not answer" >&2; return 1; }
  wrk -t1 -c64 "-d${secs}s" "$1" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; return 1; }
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
    cat "$work/wrk.out" >&2; echo "FAIL: errors from $1" >&2; return 1
  fi
  awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out"
}

configs=("sluice direct" "haproxy -> 1 sluice" "haproxy -> 2 sluice" "nginx -> 1 sluice" "nginx -> 2 sluice")
declare -A samples rate
for round in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    n=1; [[ $c == *"2 sluice" ]] && n=2
    backends $n
    case "$c" in
      sluice*) front=${ports[0]} ;;
      haproxy*) port=$((port + 1)); front=$port; start_haproxy $front "${ports[@]}" ;;
      nginx*) port=$((port + 1)); front=$port; start_nginx $front "${ports[@]}" ;;
    esac
    v=$(wrk_cell "http://127.0.0.1:$front/plaintext")
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "FAIL: $c: no result"; exit 1; }
    samples[$c]="${samples[$c]:-} $v"
    printf 'round %d %-24s %s req/s\n' "$round" "$c" "$v"
    stop_all
  done
done
tsv=build/bench/scaleout.tsv
: >"$tsv"
for c in "${configs[@]}"; do
  rate[$c]=$(bench_median "${samples[$c]}")
  printf 'http keep-alive x64\t%s\t%s\treq/s\thigher\n' "$c" "${rate[$c]}" >>"$tsv"
done
[ $smoke = 1 ] && { echo "scaleout smoke: every configuration answered through its balancer; wrote $tsv"; exit 0; }

md=docs/bench/scaleout.md
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "# Scale-out: sluice behind HAProxy and nginx"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), $("$haproxy" -v | head -1 | cut -d' ' -f1-3), $("$nginx" -v 2>&1 | sed 's/.*: //');"
  echo "wrk -t1 -c64 keep-alive GET /plaintext, median of $rounds rounds of $secs s."
  echo "Regenerate: \`bash bench/scaleout/run.sh\`."
  echo
  echo "Everything shares $(nproc) cores: the balancer, the backends and wrk. The table shows"
  echo "what one balancer hop costs on one machine, not a multi-machine scaling curve."
  echo
  echo "| configuration | req/s | vs direct |"
  echo "|---|---:|---:|"
  for c in "${configs[@]}"; do
    echo "| $c | ${rate[$c]} | $(ratio "${rate[$c]}" "${rate["sluice direct"]}") |"
  done
} >"$md"
cat "$md"
