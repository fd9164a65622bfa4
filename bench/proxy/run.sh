#!/usr/bin/env bash
# L7 proxies compared: examples/balancer (--mode http, pooled keep-alive upstream
# connections), nginx (one worker, proxy_pass to an upstream block with keepalive) and
# HAProxy (mode http, nbthread 1, http-reuse always), each round robin over the same two
# examples/http_hello backends. wrk drives keep-alive GET /plaintext (64 connections).
# Per proxy: req/s, and the proxy's CPU time (user + system, /proc/PID/stat; nginx:
# master and worker) per request. Every proxy is checked with curl first (the body), and
# wrk must see no socket error and no non-2xx; the balancer's exit statistics must show
# every backend served.
# On this machine the proxy, the backends and wrk share the cores: req/s is what the
# whole chain gets, CPU/request is the proxy's own cost.
#
#   bash bench/proxy/run.sh            full: ROUNDS=5 x SECONDS_PER_CELL=5, writes docs/bench/proxy.md
#   bash bench/proxy/run.sh --smoke    CI: 1 s cells, one round
# Both write build/bench/proxy.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0; secs=${SECONDS_PER_CELL:-5}; rounds=${ROUNDS:-5}
case "${1:-}" in
  --smoke) smoke=1; secs=1; rounds=1 ;;
  "") ;;
  *) echo "usage: bash bench/proxy/run.sh [--smoke]" >&2; exit 2 ;;
esac

source bench/lib.sh
bench_install nginx:nginx haproxy:haproxy wrk:wrk curl:curl
nginx=$(command -v nginx || echo /usr/sbin/nginx)
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)

out=build/bench/proxy
mkdir -p "$out"
# Rebuilt when a source is newer than the binary (the smoke run stays short).
newer() { [ ! -x "$1" ] || [ -n "$(find include examples/balancer "$2" -newer "$1" -name '*.[ch]pp' -print -quit)" ]; }
cxx=(g++ -O2 -DNDEBUG -std=c++17 -pthread -Iinclude)
builds=()
if newer "$out/http_hello" examples/http_hello.cpp; then
  "${cxx[@]}" examples/http_hello.cpp -o "$out/http_hello" &
  builds+=($!)
fi
if newer "$out/balancer" examples/balancer; then
  # One translation unit: the balancer's files only share balancer.hpp. Every one of
  # them, as examples/CMakeLists.txt globs them (TLS is compiled out without OpenSSL).
  (cd examples/balancer && printf '#include "%s"\n' *.cpp) |
    "${cxx[@]}" -Iexamples/balancer -x c++ - -o "$out/balancer" &
  builds+=($!)
fi
for b in "${builds[@]+"${builds[@]}"}"; do wait "$b"; done

work=$(mktemp -d /tmp/sluice-proxy.XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

port=23600
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "FAIL: nothing listens on port $1"; exit 1
}
backends() { # starts 2 http_hello, sets $ports
  ports=()
  for _ in 1 2; do
    port=$((port + 1))
    "$out/http_hello" --port $port >/dev/null 2>&1 &
    pids+=($!); ports+=($port)
  done
  for p in "${ports[@]}"; do wait_port "$p"; done
}
# Each start_* sets $proxy_pids (whose CPU time is the proxy's).
start_balancer() { # FRONT PORT...
  local front=$1 args=(); shift
  for p in "$@"; do args+=(--backend "127.0.0.1:$p"); done
  # --upstream-idle 64 per backend: nginx below keeps 64 idle connections in all.
  "$out/balancer" --listen "127.0.0.1:$front" --mode http --policy rr "${args[@]}" \
    --health-interval 1000 --upstream-idle 64 2>"$work/balancer.log" &
  pids+=($!); proxy_pids=($!)
  wait_port "$front"
}
start_haproxy() { # FRONT PORT...
  local front=$1; shift
  {
    echo "global"; echo "  nbthread 1"; echo "  maxconn 4096"
    echo "defaults"; echo "  mode http"; echo "  timeout connect 1s"
    echo "  timeout client 30s"; echo "  timeout server 30s"; echo "  option http-keep-alive"
    echo "  http-reuse always"
    echo "frontend web"; echo "  bind 127.0.0.1:$front"; echo "  default_backend sluice"
    echo "backend sluice"; echo "  balance roundrobin"
    for p in "$@"; do echo "  server s$p 127.0.0.1:$p"; done
  } >"$work/haproxy.cfg"
  "$haproxy" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  pids+=($!); proxy_pids=($!)
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
    echo "    keepalive 64; keepalive_requests 100000000; }"
    echo "  server { listen 127.0.0.1:$front;"
    echo "    location / { proxy_pass http://sluice; proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\"; } } }"
  } >"$work/nginx/nginx.conf"
  "$nginx" -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$front"
  proxy_pids=($! $(pgrep -P $!)) # the master and its worker
}
cpu_ticks() { # PID...: user + system clock ticks, summed
  local t=0 p
  for p in "$@"; do t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done
  echo "$t"
}
check() { # URL: four GETs (both backends, round robin) answer the right body
  local i
  for i in 1 2 3 4; do
    curl -sf "$1" | grep -qx 'Hello, World!' || { echo "FAIL: $1 does not answer" >&2; return 1; }
  done
}
cell() { # URL -> "req/s us/req"
  check "$1" || return 1
  local t0 t1 n
  t0=$(cpu_ticks "${proxy_pids[@]}")
  wrk -t1 -c64 "-d${secs}s" "$1" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; return 1; }
  t1=$(cpu_ticks "${proxy_pids[@]}")
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
    cat "$work/wrk.out" >&2; echo "FAIL: errors from $1" >&2; return 1
  fi
  n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  awk -v r="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")" -v t=$((t1 - t0)) -v n="$n" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f %.2f\n", r, t / hz * 1e6 / n }'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg) # other work on the machine skews req/s
proxies=(balancer nginx haproxy)
declare -A rates cpus rate cpu
for round in $(seq "$rounds"); do
  for c in "${proxies[@]}"; do
    backends
    port=$((port + 1)); front=$port
    "start_$c" $front "${ports[@]}"
    read -r r u < <(cell "http://127.0.0.1:$front/plaintext") || { echo "FAIL: $c"; exit 1; }
    [[ "$r" =~ ^[0-9]+$ ]] || { echo "FAIL: $c: no result"; exit 1; }
    if [ "$c" = balancer ]; then
      stop_all # its exit statistics: every request on a reused upstream connection but a few
      grep 'stats backend' "$work/balancer.log" | sed 's/^/  /'
      [ "$(grep -c 'requests=[1-9][0-9]* failed=0 connects=' "$work/balancer.log")" = 2 ] ||
        { echo "FAIL: balancer stats"; cat "$work/balancer.log"; exit 1; }
    fi
    rates[$c]="${rates[$c]:-} $r"; cpus[$c]="${cpus[$c]:-} $u"
    printf 'round %d %-9s %8s req/s %6s us/req proxy CPU\n' "$round" "$c" "$r" "$u"
    stop_all
  done
done
tsv=build/bench/proxy.tsv
: >"$tsv"
for c in "${proxies[@]}"; do
  rate[$c]=$(bench_median "${rates[$c]}"); cpu[$c]=$(bench_median "${cpus[$c]}")
  printf 'L7 proxy keep-alive x64\t%s\t%s\treq/s\thigher\n' "$c" "${rate[$c]}" >>"$tsv"
  printf 'L7 proxy keep-alive x64 proxy CPU\t%s\t%s\tus/req\tlower\n' "$c" "${cpu[$c]}" >>"$tsv"
done
[ $smoke = 1 ] && { echo "proxy smoke: every proxy answered through both backends; wrote $tsv"; exit 0; }

md=docs/bench/proxy.md
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "# L7 proxies: the sluice balancer, nginx and HAProxy"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), $("$haproxy" -v | head -1 | cut -d' ' -f1-3), $("$nginx" -v 2>&1 | sed 's/.*: //');"
  echo "wrk -t1 -c64 keep-alive GET /plaintext through each proxy to two examples/http_hello"
  echo "backends (round robin), median of $rounds rounds of $secs s. Regenerate: \`bash bench/proxy/run.sh\`."
  echo
  echo "Each proxy runs one thread and keeps its upstream connections alive: the balancer with"
  echo "\`--mode http --upstream-idle 64\`, nginx with one worker and \`keepalive 64\` in its upstream"
  echo "block, HAProxy with \`nbthread 1\` and \`http-reuse always\`. Proxy CPU is the proxy"
  echo "process's user + system time (/proc/PID/stat; nginx: master + worker) over the run, per"
  echo "request. Everything shares $(nproc) cores (proxy, backends, wrk), so req/s is what the chain"
  echo "gets on one machine; CPU/request is the proxy's own cost. Ratios: balancer / peer for"
  echo "req/s (above 1 is faster), peer / balancer for CPU (above 1: the balancer is cheaper)."
  echo "Load average when the run started: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "(other work on the machine moves single rounds a lot; the medians are steadier)."
  echo
  echo "| proxy | req/s | proxy CPU µs/req | balancer req/s ratio | balancer CPU advantage |"
  echo "|---|---:|---:|---:|---:|"
  for c in "${proxies[@]}"; do
    echo "| $c | ${rate[$c]} | ${cpu[$c]} | $(ratio "${rate[balancer]}" "${rate[$c]}") | $(ratio "${cpu[$c]}" "${cpu[balancer]}") |"
  done
} >"$md"
cat "$md"
