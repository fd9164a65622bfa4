#!/usr/bin/env bash
# TechEmpower-style plaintext (GET /plaintext -> 200 "Hello, World!" with Server and Date),
# side by side: sluice (examples/http_hello.cpp, its HTTP server; on its epoll backend, and
# as "sluice io_uring" on its io_uring backend), the hand-written epoll reference, libuv, libevent (bufferevent) and standalone asio (bench/http/*_http.c*: the
# same "\r\n\r\n" framing on each library's I/O layer), all from Debian packages, built -O2,
# and Debian's nginx with one worker. Every server runs one thread pinned to core 0, wrk
# (one thread) runs on core 1.
#
# Workloads, both with 256 connections (TechEmpower's lowest plaintext concurrency):
#   http keep-alive       one request in flight per connection (plain wrk, no script)
#   http pipelined x16    16 requests per write per connection (a wrk Lua script), as in
#                         TechEmpower's plaintext test: 4096 requests in flight
# Before and after its cells, each server is checked: curl gets 200 and exactly
# "Hello, World!", and bench/http/check.py sends 16 pipelined requests in one write,
# split requests and 1000 in one write, and wants exactly one valid response for each.
# A wrk run with socket errors or non-2xx responses fails too.
#
#   bash bench/http/run.sh            full run: ROUNDS=3 x SECONDS_PER_CELL=5 (median), server
#                                     order rotated each round; writes docs/bench/http.md, .png
#   bash bench/http/run.sh --smoke    CI: 1 round of 1 s cells; exits 1 on any failure
# Both write build/bench/http.tsv: workload<TAB>server<TAB>value<TAB>unit<TAB>better.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0; secs=${SECONDS_PER_CELL:-5}; rounds=${ROUNDS:-3}
case "${1:-}" in
  "") ;;
  --smoke) smoke=1; secs=1; rounds=1 ;;
  *) echo "usage: bash bench/http/run.sh [--smoke]" >&2; exit 2 ;;
esac

source bench/lib.sh
bench_install_peers nginx:nginx wrk:wrk curl:curl python3:python3
[ $smoke = 1 ] || bench_install gnuplot:gnuplot-nox
nginx=$(command -v nginx || echo /usr/sbin/nginx)

# Built in parallel: sluice's server alone takes several seconds.
out=build/bench
mkdir -p "$out"
cxx="g++ -O2 -DNDEBUG"
builds=(
  "$cxx -std=c++17 -pthread -Iinclude examples/http_hello.cpp -o $out/sluice_http_hello"
  "gcc -O2 bench/http/epoll_http.c -o $out/epoll_http"
  "gcc -O2 bench/http/uv_http.c -luv -o $out/uv_http"
  "gcc -O2 bench/http/event_http.c -levent -o $out/event_http"
  "$cxx -std=c++17 -pthread bench/http/asio_http.cpp -o $out/asio_http"
)
bpids=()
for b in "${builds[@]}"; do $b & bpids+=($!); done
for k in "${!bpids[@]}"; do wait "${bpids[$k]}" || { echo "FAIL: build: ${builds[$k]}"; exit 1; }; done

# A server is a key; its command line is bin[key] (binary, then arguments), its name in the
# tables and in http.tsv is name[key] or the key. Both sluice servers name their backend:
# "automatic" may change what it picks.
# "sluice router50" is sluice on epoll with the answer coming through an http::router of
# 50 routes (http_hello --routes 50): the price of routing, against "sluice" itself.
servers=(sluice sluice_uring sluice_router epoll libuv libevent asio nginx)
declare -A bin=([sluice]="sluice_http_hello --backend epoll" [sluice_uring]="sluice_http_hello --backend io_uring"
  [sluice_router]="sluice_http_hello --backend epoll --routes 50"
  [epoll]=epoll_http [libuv]=uv_http [libevent]=event_http [asio]=asio_http)
declare -A name=([sluice_uring]="sluice io_uring" [sluice_router]="sluice router50")
workloads=("http keep-alive" "http pipelined x16")
conns=256
pin_server=""; pin_wrk=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_wrk="taskset -c 1"; fi

work=$(mktemp -d /tmp/sluice-http-bench.XXXXXX)
pid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
trap 'stop; rm -rf "$work"' EXIT

bench_pipeline_lua "$work/pipeline.lua"


# Servers run one at a time, each on the next free port from 21000 up, and are stopped by
# their own PID (taskset execs the server, and nginx runs with daemon off, so $! is it).
port=20999
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() {
  port=$((port + 1))
  while listening $port; do port=$((port + 1)); done
  [ $port -le 21999 ] || { echo "FAIL: no free port in 21000-21999"; exit 1; }
  log="$out/http_$1.log"
  if [ "$1" = nginx ]; then
    bench_nginx_conf 1 $port "$work" >"$work/nginx.conf"
    $pin_server "$nginx" -p "$work" -e "$work/nginx.error.log" -c "$work/nginx.conf" >"$log" 2>&1 &
  else
    # shellcheck disable=SC2086 # split on purpose
    $pin_server "$out/"${bin[$1]} --port $port >"$log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do
    # Alive is checked around the probe: a server that lost the port to someone else must
    # not be measured through the other listener.
    kill -0 $pid 2>/dev/null || break
    if listening $port && kill -0 $pid 2>/dev/null; then backend_check "$1"; return 0; fi
    sleep 0.05
  done
  echo "FAIL: $1 did not start on port $port"; cat "$log"; exit 1
}
# sluice falls back to epoll when the kernel refuses io_uring; that column must not quietly
# measure epoll. The server's first line names the backend it runs on.
backend_check() {
  local want
  case $1 in sluice|sluice_router) want=epoll ;; sluice_uring) want=io_uring ;; *) return 0 ;; esac
  grep -q "backend $want," "$log" || { echo "FAIL: $1 does not run on $want: $(cat "$log")"; stop; exit 1; }
}

check() { # server when
  local body code
  code=$(curl -sS --max-time 5 -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$port/plaintext" 2>&1) || code="curl failed: $code"
  body=$(cat "$work/body" 2>/dev/null || true)
  if [ "$code" != 200 ] || [ "$body" != "Hello, World!" ] || [ "$(wc -c <"$work/body")" != 13 ]; then
    echo "FAIL: $1 ($2): curl got status '$code', body '$body'"; exit 1
  fi
  /usr/bin/python3 bench/http/check.py $port >"$work/check.out" 2>&1 || {
    echo "FAIL: $1 ($2): $(cat "$work/check.out")"; exit 1; }
}

measure() { # server workload -> req/s on stdout
  local url="http://127.0.0.1:$port/plaintext" cmd
  cmd=(wrk -t1 "-c$conns" "-d${secs}s" "$url")
  [ "$2" = "http pipelined x16" ] && cmd=(wrk -t1 "-c$conns" "-d${secs}s" -s "$work/pipeline.lua" "$url" -- 16)
  $pin_wrk "${cmd[@]}" >"$work/wrk.out" 2>&1 || {
    echo "FAIL: wrk on $1, $2:" >&2; cat "$work/wrk.out" >&2; return 1; }
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
    echo "FAIL: $1, $2: wrk saw errors:" >&2; cat "$work/wrk.out" >&2; return 1
  fi
  local r
  r=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.out")
  [ "${r:-0}" -gt 0 ] || { echo "FAIL: $1, $2: no requests/s in:" >&2; cat "$work/wrk.out" >&2; return 1; }
  echo "$r"
}

# Warm-up, discarded: whichever server is measured first otherwise gets a visibly better
# core (seen in bench/echo).
if [ $smoke = 0 ]; then
  start epoll
  measure epoll "http keep-alive" >/dev/null
  stop
fi

# Several rounds, the server order rotated each round; each cell reports the median of its
# rounds (bench/echo saw up to 35% between identical passes on a 2-vCPU machine).
declare -A rate samples cpu cpu_samples
# The server's CPU time (user + system, from /proc; nginx: master and worker) per
# request. One wrk thread on one core can be the ceiling for every efficient server;
# what each server spent per request still differs.
tck=$(getconf CLK_TCK)
cpu_ticks() {
  local p t=0
  for p in "$1" $(pgrep -P "$1" || true); do
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo $t
}
for round in $(seq "$rounds"); do
  for k in "${!servers[@]}"; do
    s=${servers[$(( (k + round - 1) % ${#servers[@]} ))]}
    start "$s"
    check "$s" "before measuring"
    for w in "${workloads[@]}"; do
      t0=$(cpu_ticks $pid)
      r=$(measure "$s" "$w") || exit 1
      t1=$(cpu_ticks $pid)
      samples[$s,$w]="${samples[$s,$w]:-} $r"
      cpu_samples[$s,$w]="${cpu_samples[$s,$w]:-} $(awk -v t=$((t1 - t0)) -v hz="$tck" \
        '/requests in/ {printf "%.3f", ($1 > 0 ? t * 1e6 / hz / $1 : 0)}' "$work/wrk.out")"
      printf 'round %d %-12s :%d %-19s %9s req/s\n' "$round" "$s" $port "$w" "$r"
    done
    check "$s" "after measuring"
    stop
  done
done
for key in "${!samples[@]}"; do
  rate[$key]=$(bench_median "${samples[$key]}")
  cpu[$key]=$(bench_median "${cpu_samples[$key]}")
done
for s in "${servers[@]}"; do
  for w in "${workloads[@]}"; do [ -n "${rate[$s,$w]:-}" ] || { echo "FAIL: no result for $s, $w"; exit 1; }; done
done

tsv=$out/http.tsv
: >"$tsv"
for w in "${workloads[@]}"; do
  for s in "${servers[@]}"; do printf '%s\t%s\t%s\treq/s\thigher\n' "$w" "${name[$s]:-$s}" "${rate[$s,$w]}" >>"$tsv"; done
  for s in "${servers[@]}"; do printf '%s, server CPU\t%s\t%s\tus/req\tlower\n' "$w" "${name[$s]:-$s}" "${cpu[$s,$w]}" >>"$tsv"; done
done
[ $smoke = 1 ] && { echo "http smoke: every server passed curl, check.py and wrk without errors; wrote $tsv"; exit 0; }

sluice_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain -- include examples/http_hello.cpp 2>/dev/null)" ] && sluice_rev="$sluice_rev + uncommitted changes"
asio_ver=$(awk '$1 == "#define" && $2 == "ASIO_VERSION" {v=$3; printf "%d.%d.%d", v/100000, v/100%1000, v%100}' /usr/include/asio/version.hpp)
mkdir -p docs/bench
md=docs/bench/http.md
{
  echo "# HTTP plaintext: sluice against its peers"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++ $(g++ -dumpfullversion), $("$nginx" -v 2>&1 | sed 's|.*: ||'), libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?'),"
  echo "libevent $(pkg-config --modversion libevent 2>/dev/null || echo '?'), asio $asio_ver, $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'), sluice $sluice_rev."
  echo "Median of ${rounds} round(s) of ${secs} s per cell (server order rotated each round); each"
  echo "server is one thread on core 0, wrk one thread on core 1, over loopback, $conns connections."
  echo "Regenerate: \`bash bench/http/run.sh\`."
  echo
  echo "- **sluice**: \`examples/http_hello.cpp\` on sluice's \`http::server\` (full HTTP/1.1 parser),"
  echo "  \`--backend epoll\`; **sluice io_uring**: the same binary with \`--backend io_uring\` (the"
  echo "  script checks each runs on the backend named); **sluice router50**: \`--backend epoll"
  echo "  --routes 50\`, the same bytes answered through an \`http::router\` of 50 routes (parameters,"
  echo "  wildcards) instead of one hand-written handler."
  echo "- **epoll**: the hand-written reference, \`bench/http/epoll_http.c\`: level-triggered, one"
  echo "  \`send\` per read; the least a server can do, not a real HTTP server."
  echo "- **libuv**, **libevent**, **asio**: \`bench/http/{uv,event,asio}_http.c*\`, the same"
  echo "  \"\\r\\n\\r\\n\" framing as the reference on each library's I/O layer (libevent: bufferevent,"
  echo "  not evhttp; the file says why), all responses of one read in one write."
  echo "- **nginx**: Debian's, \`worker_processes 1\`, \`return 200 \"Hello, World!\"\`, access log off."
  echo "  It answers each pipelined request with its own \`writev\` (strace, nginx 1.22), the others"
  echo "  write all the responses of one read at once, so pipelining gains nginx the least."
  echo
  echo "Every server was checked before and after its cells (curl; 16 pipelined requests in one"
  echo "write, split requests, 1000 in one write: exactly one valid response each), and no wrk run"
  echo "saw a socket error or a non-2xx response. wrk runs on one core too, so a cell can be the"
  echo "client's limit: when several servers reach the same rate, read it as wrk's ceiling."
  echo
  echo "Requests per second:"
  echo
  echo "| server | ${workloads[0]} | ${workloads[1]} |"
  echo "|---|---:|---:|"
  for s in "${servers[@]}"; do echo "| ${name[$s]:-$s} | ${rate[$s,${workloads[0]}]} | ${rate[$s,${workloads[1]}]} |"; done
  echo
  echo "Ratios, sluice / peer (above 1.0: sluice is faster), for each backend of sluice:"
  echo
  echo "| peer | sluice, ${workloads[0]} | sluice, ${workloads[1]} | sluice io_uring, ${workloads[0]} | sluice io_uring, ${workloads[1]} |"
  echo "|---|---:|---:|---:|---:|"
  for s in "${servers[@]}"; do
    row="| ${name[$s]:-$s} |"
    for mine in sluice sluice_uring; do
      for w in "${workloads[@]}"; do
        row="$row $(awk -v a="${rate[$mine,$w]}" -v b="${rate[$s,$w]}" 'BEGIN{printf "%.2f", a/b}') |"
      done
    done
    echo "$row"
  done
  echo
  echo "Server CPU time (user + system, from /proc/PID/stat; nginx: master and worker) per"
  echo "request, in µs: what each server spent, whatever the client's ceiling; then sluice's"
  echo "CPU per request over the server's (below 1.0: sluice spends less)."
  echo
  echo "| server | ${workloads[0]} | ${workloads[1]} | sluice / server, keep-alive | sluice / server, pipelined | sluice io_uring / server, keep-alive | sluice io_uring / server, pipelined |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for s in "${servers[@]}"; do
    row="| ${name[$s]:-$s} | ${cpu[$s,${workloads[0]}]} | ${cpu[$s,${workloads[1]}]} |"
    for mine in sluice sluice_uring; do
      for w in "${workloads[@]}"; do
        row="$row $(awk -v a="${cpu[$mine,$w]}" -v b="${cpu[$s,$w]}" 'BEGIN{printf "%.2f", (b > 0 ? a/b : 0)}') |"
      done
    done
    echo "$row"
  done
  echo
  echo "The price of routing: sluice router50 over sluice (rate: above 0.97 is within 3%; CPU per"
  echo "request: below 1.03 is within 3%):"
  echo
  echo "| | ${workloads[0]} | ${workloads[1]} |"
  echo "|---|---:|---:|"
  row="| requests/s |"; crow="| CPU per request |"
  for w in "${workloads[@]}"; do
    row="$row $(awk -v a="${rate[sluice_router,$w]}" -v b="${rate[sluice,$w]}" 'BEGIN{printf "%.3f", a/b}') |"
    crow="$crow $(awk -v a="${cpu[sluice_router,$w]}" -v b="${cpu[sluice,$w]}" 'BEGIN{printf "%.3f", (b > 0 ? a/b : 0)}') |"
  done
  echo "$row"; echo "$crow"
  echo
  echo "![requests per second](http.png)"
} >"$md"
dat=$work/http.dat
for s in "${servers[@]}"; do echo "\"${name[$s]:-$s}\" ${rate[$s,${workloads[0]}]} ${rate[$s,${workloads[1]}]}" >>"$dat"; done
gnuplot <<GP
set terminal pngcairo size 900,450
set output "docs/bench/http.png"
set title "HTTP plaintext, requests/s (one thread, $conns connections, $(date -u +%Y-%m-%d))"
set style data histograms
set style histogram clustered gap 1
set style fill solid border -1
set key outside right
set yrange [0:*]
set ylabel "thousand requests/s"
plot "$dat" using (\$2/1000):xtic(1) title "${workloads[0]}", "" using (\$3/1000) title "${workloads[1]}"
GP
cat "$md"
