#!/usr/bin/env bash
# User-space instructions per echoed message and per HTTP request, counted by
# callgrind: each server runs under valgrind --tool=callgrind while the usual load
# client drives it, and the count of an identical run that serves nothing (start, then
# stop) is subtracted. Unlike the throughput suites this number is repeatable to a few
# percent whatever else the machine does, and it isolates what each library adds on
# top of the same system calls (the kernel's share is not counted: callgrind sees
# only user space).
#
#   bash bench/instructions/run.sh           full: writes docs/bench/instructions.md
#   bash bench/instructions/run.sh --smoke   CI: sluice only, short; checks the method works
# Both write build/bench/instructions.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
secs=3; [ $smoke = 1 ] && secs=1

source bench/lib.sh
bench_install_peers valgrind:valgrind wrk:wrk

out=build/bench/instructions
mkdir -p "$out"
cxx="g++ -O2 -DNDEBUG"
$cxx -std=c++17 -pthread -Iinclude examples/echo_server.cpp -o "$out/sluice_echo" &
$cxx -std=c++17 -pthread -Iinclude examples/http_hello.cpp -o "$out/sluice_http" &
$cxx -std=c++17 bench/echo/echo_load.cpp -o "$out/echo_load"
if [ $smoke = 0 ]; then
  gcc -O2 bench/echo/epoll_echo.c -o "$out/epoll_echo"
  gcc -O2 bench/echo/uv_echo.c -luv -o "$out/uv_echo"
  gcc -O2 bench/echo/event_echo.c -levent -o "$out/event_echo"
  $cxx -std=c++17 -pthread bench/echo/asio_echo.cpp -o "$out/asio_echo" &
  $cxx -std=c++20 -pthread bench/echo/asio_coro_echo.cpp -o "$out/asio_coro_echo" &
  gcc -O2 bench/http/epoll_http.c -o "$out/epoll_http"
  gcc -O2 bench/http/uv_http.c -luv -o "$out/uv_http"
  gcc -O2 bench/http/event_http.c -levent -o "$out/event_http"
  $cxx -std=c++17 -pthread bench/http/asio_http.cpp -o "$out/asio_http" &
fi
wait

pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT
port=23300
# measure BINARY KIND [ARGS...] -> prints "instructions units"; KIND echo|http|idle
measure() {
  port=$((port + 1))
  local cg="$out/$(basename "$1").$2.$port.cg" units=0
  valgrind --tool=callgrind --callgrind-out-file="$cg" "$1" --port $port "${@:3}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  case $2 in
    echo)
      units=$("$out/echo_load" --port $port --connections 100 --size 64 --seconds "$secs" |
        awk '{for (i = 1; i < NF; i++) if ($i == "messages") print $(i + 1)}') ;;
    http)
      units=$(wrk -t1 -c100 "-d${secs}s" "http://127.0.0.1:$port/plaintext" |
        awk '/requests in/ {print $1}') ;;
  esac
  kill -INT $pid 2>/dev/null || true
  sleep 0.5
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  pid=""
  local ir
  ir=$(callgrind_annotate "$cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  [ -n "$ir" ] || { echo "FAIL: no callgrind total for $1" >&2; exit 1; }
  echo "$ir ${units:-0}"
}
per_unit() { # binary kind [args...] -> instructions per unit, minus the idle run's
  local base units ir
  read -r base _ < <(measure "$1" idle "${@:3}")
  read -r ir units < <(measure "$1" "$2" "${@:3}")
  [ "${units:-0}" -gt 0 ] || { echo "FAIL: $1 served nothing under callgrind" >&2; exit 1; }
  echo $(((ir - base) / units))
}

declare -A ir
if [ $smoke = 1 ]; then
  pairs=("sluice|echo|sluice_echo" "sluice|http|sluice_http")
else
  pairs=("sluice|echo|sluice_echo" "epoll|echo|epoll_echo" "libuv|echo|uv_echo"
         "libevent|echo|event_echo" "asio|echo|asio_echo" "asio-coro|echo|asio_coro_echo"
         "sluice|http|sluice_http" "epoll|http|epoll_http" "libuv|http|uv_http"
         "libevent|http|event_http" "asio|http|asio_http"
         "sluice-router50|http|sluice_http|--routes 50")
fi
tsv=build/bench/instructions.tsv
: >"$tsv"
for p in "${pairs[@]}"; do
  IFS='|' read -r name kind bin args <<<"$p"
  # shellcheck disable=SC2086 # $args: the server's extra flags, split on purpose
  v=$(per_unit "$out/$bin" "$kind" $args)
  ir[$name,$kind]=$v
  label="echo 64 B x 100, instructions/message"
  [ "$kind" = http ] && label="http keep-alive, instructions/request"
  printf '%s\t%s\t%s\tinstructions\tlower\n' "$label" "$name" "$v" >>"$tsv"
  printf '%-10s %-5s %8s user-space instructions per %s\n' "$name" "$kind" "$v" \
    "$([ "$kind" = echo ] && echo message || echo request)"
done
[ $smoke = 1 ] && { echo "instructions smoke: callgrind counted sluice's echo and HTTP; wrote $tsv"; exit 0; }

md=docs/bench/instructions.md
{
  echo "# User-space instructions per message and per request"
  echo
  echo "Measured $(date -u +%Y-%m-%d) with $(valgrind --version), g++ $(g++ -dumpfullversion) -O2,"
  echo "Linux $(uname -r). Each server runs under callgrind while bench/echo/echo_load (64 B,"
  echo "100 connections, one message in flight each) or wrk (100 connections, keep-alive)"
  echo "drives it for $secs s; the instructions of a run that serves nothing are subtracted."
  echo "Callgrind counts user space only: the system calls' kernel work, which dominates"
  echo "wall time here, is the same for every server and is not in these numbers."
  echo "Regenerate: \`bash bench/instructions/run.sh\`."
  echo
  echo "| server | per echoed message | sluice / peer | per HTTP request | sluice / peer |"
  echo "|---|---:|---:|---:|---:|"
  for name in sluice epoll libuv libevent asio asio-coro; do
    e=${ir[$name,echo]:-}; h=${ir[$name,http]:-}
    re=$(awk -v a="${ir[sluice,echo]}" -v b="$e" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "" }')
    rh=$(awk -v a="${ir[sluice,http]}" -v b="$h" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "" }')
    echo "| $name | ${e:--} | ${re:--} | ${h:--} | ${rh:--} |"
  done
  echo
  r=${ir[sluice-router50,http]}
  echo "Through an \`http::router\` of 50 routes (\`http_hello --routes 50\`: /plaintext among"
  echo "REST-shaped decoys), sluice takes $r instructions per request, $((r - ${ir[sluice,http]})) more"
  echo "than its plain handler ($(awk -v a="$r" -v b="${ir[sluice,http]}" 'BEGIN { printf "%.2f", a / b }')x)."
  echo
  echo "The HTTP peers other than sluice frame requests by \"\\r\\n\\r\\n\" only; sluice parses"
  echo "and validates every request line and header (bench/http/run.sh describes each)."
} >"$md"
cat "$md"
