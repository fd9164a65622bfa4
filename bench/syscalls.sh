#!/usr/bin/env bash
# System calls per echo message and per HTTP request, for each backend of sluice (epoll,
# io_uring, poll) and each peer of bench/echo and bench/http: the same servers, built the
# same way, driven by the same clients (bench/echo/echo_load, wrk with one thread).
# `strace -c -f -p` attaches to the server alone (nginx: master and worker) for the whole
# load, and the count is divided by the messages or requests the client completed.
#
# Counts do not depend on the machine's load as rates do, with one caveat: strace stops
# the server at every call, so the server runs slower than the client and finds more
# ready work per wait than it would untraced. Counts of the wait calls (epoll_wait,
# io_uring_enter, poll) are therefore a lower bound at many connections; at one
# connection nothing can batch and they are exact. Connection setup (accept, setsockopt,
# close) is inside the count too, a few hundred calls against tens of thousands.
#
#   bash bench/syscalls.sh           2 s per cell; writes docs/bench/syscalls.md (dated)
#   bash bench/syscalls.sh --smoke   CI: 1 s cells, fewer workloads; checks that every
#                                    server answered under strace and that sluice's
#                                    io_uring column really enters the ring; no ratios
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0; secs=${SECONDS_PER_CELL:-2}
case "${1:-}" in
  "") ;;
  --smoke) smoke=1; secs=1 ;; # wrk takes whole seconds only
  *) echo "usage: bash bench/syscalls.sh [--smoke]" >&2; exit 2 ;;
esac

source bench/lib.sh
bench_install_peers liburing-dev strace:strace nginx:nginx wrk:wrk
nginx=$(command -v nginx || echo /usr/sbin/nginx)

out=build/bench
mkdir -p "$out"
cxx="g++ -O2 -DNDEBUG"
builds=(
  "$cxx -std=c++17 -pthread -Iinclude examples/echo_server.cpp -o $out/sluice_echo"
  "$cxx -std=c++17 -pthread -Iinclude examples/http_hello.cpp -o $out/sluice_http_hello"
  "$cxx -std=c++17 bench/echo/echo_load.cpp -o $out/echo_load"
  "gcc -O2 bench/echo/epoll_echo.c -o $out/epoll_echo"
  "gcc -O2 bench/echo/uring_echo.c -luring -o $out/uring_echo"
  "gcc -O2 bench/echo/uv_echo.c -luv -o $out/uv_echo"
  "gcc -O2 bench/echo/event_echo.c -levent -o $out/event_echo"
  "$cxx -std=c++17 -pthread bench/echo/asio_echo.cpp -o $out/asio_echo"
  "$cxx -std=c++20 -pthread bench/echo/asio_coro_echo.cpp -o $out/asio_coro_echo"
  "gcc -O2 bench/http/epoll_http.c -o $out/epoll_http"
  "gcc -O2 bench/http/uv_http.c -luv -o $out/uv_http"
  "gcc -O2 bench/http/event_http.c -levent -o $out/event_http"
  "$cxx -std=c++17 -pthread bench/http/asio_http.cpp -o $out/asio_http"
)
# Two at a time: sluice's two take several seconds each, and the machine may be shared.
bpids=()
for k in "${!builds[@]}"; do
  ${builds[$k]} & bpids+=($!)
  if [ $((k % 2)) = 1 ]; then for p in "${bpids[@]}"; do wait "$p" || { echo "FAIL: a build of: ${builds[*]}"; exit 1; }; done; bpids=(); fi
done
for p in "${bpids[@]+"${bpids[@]}"}"; do wait "$p" || { echo "FAIL: a build"; exit 1; }; done

# Server keys: the name in the tables, then the command line (binary in build/bench, args).
echo_servers=(sluice-epoll sluice-io_uring sluice-poll epoll liburing libuv libevent asio asio-coro)
http_servers=(sluice-epoll sluice-io_uring sluice-poll epoll libuv libevent asio nginx)
declare -A echo_cmd=([sluice-epoll]="sluice_echo --backend epoll" [sluice-io_uring]="sluice_echo --backend io_uring"
  [sluice-poll]="sluice_echo --backend poll" [epoll]=epoll_echo [liburing]=uring_echo [libuv]=uv_echo
  [libevent]=event_echo [asio]=asio_echo [asio-coro]=asio_coro_echo)
declare -A http_cmd=([sluice-epoll]="sluice_http_hello --backend epoll"
  [sluice-io_uring]="sluice_http_hello --backend io_uring" [sluice-poll]="sluice_http_hello --backend poll"
  [epoll]=epoll_http [libuv]=uv_http [libevent]=event_http [asio]=asio_http)
echo_conns=(1 100 1000); http_loads=("keep-alive" "pipelined x16"); http_conns=256
[ $smoke = 1 ] && { echo_conns=(100); http_loads=("keep-alive"); }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
pin_server=""; pin_load=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_load="taskset -c 1"; fi

work=$(mktemp -d /tmp/sluice-syscalls.XXXXXX)
pid=""; tracer=""
stop() {
  local p
  for p in $tracer $pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  tracer=""; pid=""
}
trap 'stop; rm -rf "$work"' EXIT
bench_pipeline_lua "$work/pipeline.lua"

port=22999
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() { # suite key: the server on the next free port, checked to run the backend it names
  local cmd
  port=$((port + 1))
  while listening $port; do port=$((port + 1)); done
  log="$work/server.log"
  if [ "$2" = nginx ]; then
    bench_nginx_conf 1 $port "$work" >"$work/nginx.conf"
    $pin_server "$nginx" -p "$work" -e "$work/nginx.error.log" -c "$work/nginx.conf" >"$log" 2>&1 &
  else
    if [ "$1" = echo ]; then cmd=${echo_cmd[$2]}; else cmd=${http_cmd[$2]}; fi
    # shellcheck disable=SC2086 # split on purpose
    $pin_server "$out/"$cmd --port $port >"$log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do
    kill -0 $pid 2>/dev/null || break
    if listening $port && kill -0 $pid 2>/dev/null; then
      case $2 in
        sluice-*) grep -q "backend ${2#sluice-}," "$log" || {
          echo "FAIL: $2 does not run on ${2#sluice-}: $(cat "$log")"; exit 1; } ;;
      esac
      return 0
    fi
    sleep 0.05
  done
  echo "FAIL: $2 did not start on port $port: $(cat "$log")"; exit 1
}

# trace: strace -c on the server (and its children: nginx's worker) until untrace.
trace() {
  local pids=(-p "$pid") c
  for c in $(pgrep -P "$pid" || true); do pids+=(-p "$c"); done
  strace -c -f "${pids[@]}" -o "$work/strace.out" 2>"$work/strace.err" &
  tracer=$!
  for _ in $(seq 100); do grep -q attached "$work/strace.err" 2>/dev/null && return 0; sleep 0.05; done
  echo "FAIL: strace did not attach to $pid: $(cat "$work/strace.err")"; exit 1
}
untrace() { # -> leaves the summary in $work/strace.out
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true; tracer=""
}

# record KEY COUNT: total and per-call counts of the last trace, divided by COUNT.
declare -A total detail
record() {
  total[$1]=$(awk -v n="$2" '$NF == "total" {printf "%.2f", $4 / n}' "$work/strace.out")
  detail[$1]=$(awk -v n="$2" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
      r = $4 / n; if (r >= 0.005) printf "%s %.2f\n", $NF, r }' "$work/strace.out" | sort -k2,2nr | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')
  [ -n "${total[$1]}" ] || { echo "FAIL: no strace summary for $1:"; cat "$work/strace.out" "$work/strace.err"; exit 1; }
}

for s in "${echo_servers[@]}"; do
  start echo "$s"
  for c in "${echo_conns[@]}"; do
    trace
    line=$($pin_load "$out/echo_load" --port $port --size 64 --connections "$c" --seconds "$secs") || {
      echo "FAIL: echo_load on $s x $c: ${line:-no output}"; exit 1; }
    untrace
    msgs=$(echo "$line" | awk '{for (i = 1; i < NF; i++) if ($i == "messages") print $(i + 1)}')
    record "echo,$s,$c" "$msgs"
    printf 'echo 64 B x %-4s %-16s %6s syscalls/msg over %7s msgs: %s\n' "$c" "$s" "${total[echo,$s,$c]}" "$msgs" "${detail[echo,$s,$c]}"
  done
  stop
done
for s in "${http_servers[@]}"; do
  start http "$s"
  for w in "${http_loads[@]}"; do
    url="http://127.0.0.1:$port/plaintext"
    cmd=(wrk -t1 "-c$http_conns" "-d${secs}s" "$url")
    [ "$w" = "pipelined x16" ] && cmd+=(-s "$work/pipeline.lua" -- 16)
    trace
    $pin_load "${cmd[@]}" >"$work/wrk.out" 2>&1 || { echo "FAIL: wrk on $s, $w:"; cat "$work/wrk.out"; exit 1; }
    untrace
    if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then echo "FAIL: $s, $w: wrk saw errors:"; cat "$work/wrk.out"; exit 1; fi
    reqs=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    [ "${reqs:-0}" -gt 0 ] || { echo "FAIL: $s, $w: no requests:"; cat "$work/wrk.out"; exit 1; }
    record "http,$s,$w" "$reqs"
    printf 'http %-13s %-16s %6s syscalls/req over %7s reqs: %s\n' "$w" "$s" "${total[http,$s,$w]}" "$reqs" "${detail[http,$s,$w]}"
  done
  stop
done
# The io_uring column must have gone through the ring, whatever the log said.
for c in "${echo_conns[@]}"; do
  [[ ${detail[echo,sluice-io_uring,$c]} == *io_uring_enter* ]] || {
    echo "FAIL: sluice-io_uring made no io_uring_enter call at $c connections"; exit 1; }
done
[ $smoke = 1 ] && { echo "syscalls smoke: every server answered under strace; sluice-io_uring entered its ring"; exit 0; }

sluice_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain -- include examples bench 2>/dev/null)" ] && sluice_rev="$sluice_rev + uncommitted changes"
mkdir -p docs/bench
md=docs/bench/syscalls.md
{
  echo "# System calls per echo message and per HTTP request"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on Linux $(uname -r), $(strace -V | head -1 | sed "s/ -- version//"), g++ $(g++ -dumpfullversion),"
  echo "sluice $sluice_rev. Regenerate: \`bash bench/syscalls.sh\` (about two minutes)."
  echo
  echo "Each cell is the server's system calls (\`strace -c -f -p\`, attached to the server only;"
  echo "nginx: master and worker) over ${secs} s of load, divided by the messages echoed or the"
  echo "requests answered. The servers and clients are those of bench/echo (\`echo_load\`, one"
  echo "64 B message in flight per connection) and bench/http (wrk, one thread, $http_conns connections)."
  echo "strace slows the server at every call, so under many connections it finds more ready"
  echo "work per wait than untraced: the wait calls (epoll_wait, io_uring_enter, poll) are a"
  echo "lower bound there. At one connection nothing batches and the counts are exact."
  echo "Connection setup (accept, setsockopt, close) is inside the counts."
  echo
  echo "## Echo, syscalls per message"
  echo
  row="| server |"; rule="|---|"
  for c in "${echo_conns[@]}"; do row="$row 64 B x $c |"; rule="$rule---:|"; done
  echo "$row"; echo "$rule"
  for s in "${echo_servers[@]}"; do
    row="| $s |"
    for c in "${echo_conns[@]}"; do row="$row ${total[echo,$s,$c]} |"; done
    echo "$row"
  done
  echo
  echo "## HTTP plaintext, syscalls per request"
  echo
  row="| server |"; rule="|---|"
  for w in "${http_loads[@]}"; do row="$row $w |"; rule="$rule---:|"; done
  echo "$row"; echo "$rule"
  for s in "${http_servers[@]}"; do
    row="| $s |"
    for w in "${http_loads[@]}"; do row="$row ${total[http,$s,$w]} |"; done
    echo "$row"
  done
  echo
  echo "## Which calls"
  echo
  echo "Per message or request, each call made at least 0.005 times per unit:"
  echo
  echo "| workload | server | calls per unit |"
  echo "|---|---|---|"
  for c in "${echo_conns[@]}"; do
    for s in "${echo_servers[@]}"; do echo "| echo 64 B x $c | $s | ${detail[echo,$s,$c]} |"; done
  done
  for w in "${http_loads[@]}"; do
    for s in "${http_servers[@]}"; do echo "| http $w | $s | ${detail[http,$s,$w]} |"; done
  done
} >"$md"
cat "$md"
