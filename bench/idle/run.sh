#!/usr/bin/env bash
# Memory per idle connection, side by side: sluice (examples/echo_server.cpp), the
# hand-written epoll reference, libuv, libevent, standalone asio (callbacks and C++20
# coroutines): the echo peers of bench/echo/, built -O2, one thread each. Each server
# runs pinned to core 0; the neutral client bench/idle/idle_load (raw sockets, not
# sluice) runs on core 1, opens N connections, echoes one verified 64-byte message on
# each (so every server has accepted, read and written on every connection) and then
# holds them idle. The figure is the growth of the server's VmRSS (/proc/PID/status)
# from "started, one warm connection served" to "N idle connections", divided by N.
# Before the connections are closed, one more verified echo runs on every one of them.
#
#   bash bench/idle/run.sh            full run: CONNECTIONS=10000, median of ROUNDS=3, writes docs/bench/idle.md
#   bash bench/idle/run.sh --smoke    CI: CONNECTIONS=500, one round; fails if any server misses a connection
#
# Both write build/bench/idle.tsv: metric, server, value, unit, which way is better.
# nginx is not in the table: Debian's nginx has no raw TCP echo (its stream module,
# libnginx-mod-stream, can only proxy_pass or `return` a fixed value and close).
#
# Licensed under the Boost Software License 1.0 (see LICENSE).
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
if [ $smoke = 1 ]; then
  n=500; rounds=1; settle=0.3
else
  n=${CONNECTIONS:-10000}; rounds=${ROUNDS:-3}; settle=${SETTLE_SECONDS:-2}
fi

# Each server holds N sockets plus a few; it inherits this shell's limit.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((n + 64)) ]; then
  echo "FAIL: descriptor hard limit $hard is too low for $n connections (need $((n + 64)));" \
       "raise it (ulimit -Hn as root, /etc/security/limits.conf) or set CONNECTIONS lower" >&2
  exit 1
fi
ulimit -n "$hard"

source bench/lib.sh
bench_install_peers g++:g++ gcc:gcc

out=build/bench/idle
mkdir -p "$out"
cxx="g++ -O2 -DNDEBUG"
# Built side by side (on 2 cores this halves the smoke run); any failure stops the run.
builds=(
  "$cxx -std=c++17 -pthread -Iinclude examples/echo_server.cpp -o $out/sluice_echo"
  "$cxx -std=c++17 bench/idle/idle_load.cpp -o $out/idle_load"
  "gcc -O2 bench/echo/epoll_echo.c -o $out/epoll_echo"
  "gcc -O2 bench/echo/uv_echo.c -luv -o $out/uv_echo"
  "gcc -O2 bench/echo/event_echo.c -levent -o $out/event_echo"
  "$cxx -std=c++17 -pthread bench/echo/asio_echo.cpp -o $out/asio_echo"
  "$cxx -std=c++20 -pthread bench/echo/asio_coro_echo.cpp -o $out/asio_coro_echo"
)
bpids=()
for b in "${builds[@]}"; do $b & bpids+=($!); done
for k in "${!bpids[@]}"; do wait "${bpids[$k]}" || { echo "FAIL: build: ${builds[$k]}" >&2; exit 1; }; done

servers=(sluice_echo epoll_echo uv_echo event_echo asio_echo asio_coro_echo)
keys=(sluice epoll libuv libevent asio asio-coro)
names=("sluice" "epoll reference" "libuv" "libevent" "asio" "asio coroutines")
holds=(
  "a heap \`session\` with its \`tcp_stream\` (the stream's state, read handler, empty write queue); reads land in the loop's one shared buffer, so no read buffer per connection"
  "a 16-byte slot in a static table; one static 64 KiB read buffer for all"
  "a malloc'd \`uv_tcp_t\`; \`alloc_cb\` hands every read the same static 64 KiB buffer"
  "a \`bufferevent\` with its two \`evbuffer\`s and two events; the read chain is moved to the output and freed once written"
  "a \`shared_ptr\` session with the socket and a 64 KiB \`char\` array, by design of the classic example: 64 KiB of address space each, of which only the touched pages are resident; plus asio's per-descriptor reactor state"
  "a coroutine frame with the socket and the echo loop's 64 KiB local array (same as asio: reserved, mostly not resident); plus asio's per-descriptor reactor state"
)
pin_server=""; pin_load=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_load="taskset -c 1"; fi


tmp=$(mktemp -d)
started=()
cleanup() {
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Port P in use in any state, or listening (state 0A), per /proc/net/tcp{,6}.
port_used() {
  awk -v h=":$(printf '%04X' "$1")" 'FNR > 1 && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6
}
port_listening() {
  awk -v h=":$(printf '%04X' "$1")" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
port=21999
next_port() {
  for _ in $(seq 500); do
    port=$((port + 1))
    [ $port -gt 22499 ] && port=22000
    port_used $port || return 0
  done
  echo "FAIL: no free port in 22000-22499" >&2
  exit 1
}
fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*.log; do [ -s "$f" ] && { echo "--- $(basename "$f"):" >&2; tail -5 "$f" >&2; }; done
  exit 1
}

# Reads idle_load's next line into `line`; gives up when it has exited or after 120 s.
load_line() {
  local _
  for _ in $(seq 120); do
    read -r -t 1 -u "$rout" line && return 0
    kill -0 "$lpid" 2>/dev/null || { read -r -t 0.2 -u "$rout" line && return 0; line="(idle_load exited)"; return 0; }
  done
  line="(nothing in 120 s)"
}

# One measurement: sets result to "rss_start rss_warm rss_idle vmdata_warm vmdata_idle" (kB).
measure() {
  local s=$1 spid win
  next_port
  : >"$tmp/server.log"; : >"$tmp/load.log"
  $pin_server "$out/$s" --port $port >"$tmp/server.log" 2>&1 &
  spid=$!; started+=("$spid")
  for _ in $(seq 100); do port_listening $port && break; sleep 0.05; done
  { kill -0 "$spid" 2>/dev/null && port_listening $port; } || fail "$s did not start listening on port $port"
  local rss_start; rss_start=$(status_kb "$spid" VmRSS)

  # One warm connection: lazily made buffers and tables are then in the baseline.
  $pin_load "$out/idle_load" --port $port --connections 1 --ping </dev/null >/dev/null 2>"$tmp/load.log" ||
    fail "$s: warm connection"
  sleep 0.2
  local rss_warm vm_warm; rss_warm=$(status_kb "$spid" VmRSS); vm_warm=$(status_kb "$spid" VmData)

  rm -f "$tmp/in" "$tmp/out"; mkfifo "$tmp/in" "$tmp/out"
  $pin_load "$out/idle_load" --port $port --connections "$n" --ping <"$tmp/in" >"$tmp/out" 2>"$tmp/load.log" &
  lpid=$!; started+=("$lpid")
  # Opened read-write so neither side blocks on open if the other is gone.
  exec {win}<>"$tmp/in" {rout}<>"$tmp/out"
  load_line
  [ "$line" = "ready $n" ] || fail "$s on port $port: idle_load said '$line', want 'ready $n'"
  sleep "$settle"
  kill -0 "$spid" 2>/dev/null || fail "$s died holding $n connections"
  local rss_idle vm_idle; rss_idle=$(status_kb "$spid" VmRSS); vm_idle=$(status_kb "$spid" VmData)
  echo quit >&"$win"
  load_line
  [ "$line" = "pinged $n" ] || fail "$s: after the idle wait idle_load said '$line', want 'pinged $n'"
  wait "$lpid" || fail "$s: idle_load exited non-zero"
  exec {win}>&- {rout}<&-
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  result="$rss_start $rss_warm $rss_idle $vm_warm $vm_idle"
}

declare -A samples first
for round in $(seq "$rounds"); do
  for i in "${!servers[@]}"; do
    s=${servers[$i]}
    measure "$s"
    r=$result
    set -- $r
    per=$(awk -v a="$2" -v b="$3" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    samples[$s]="${samples[$s]:-} $per"
    [ "$round" = 1 ] && first[$s]="$r"
    printf 'round %d %-15s RSS kB: start %6s, warm %6s, %d idle %7s -> %6s B/connection (VmData +%s B/connection)\n' \
      "$round" "$s" "$1" "$2" "$n" "$3" "$per" "$(awk -v a="$4" -v b="$5" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')"
  done
done
declare -A per
for s in "${servers[@]}"; do
  per[$s]=$(echo ${samples[$s]} | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
done

mkdir -p build/bench
tsv=build/bench/idle.tsv
: >"$tsv"
for i in "${!servers[@]}"; do
  printf 'idle RSS per connection\t%s\t%s\tbytes\tlower\n' "${keys[$i]}" "${per[${servers[$i]}]}" >>"$tsv"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

if [ $smoke = 1 ]; then
  echo "idle smoke: every server held and echoed all $n connections"
  exit 0
fi

mkdir -p docs/bench
md=docs/bench/idle.md
{
  echo "# Memory per idle connection: sluice against its peers"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++ $(g++ -dumpfullversion) -O2, glibc malloc. Regenerate: \`bash bench/idle/run.sh\`."
  echo
  echo "Each server (the echo servers of \`bench/echo/\`, one thread, pinned to core 0) is started and"
  echo "serves one warm connection; then \`bench/idle/idle_load\` (raw sockets, core 1) opens $n"
  echo "connections, sends one 64-byte message on each and verifies its echo, so every server has"
  echo "accepted, read and written on every connection and sits in its steady idle state. ${settle} s later"
  echo "the server's \`VmRSS\` (\`/proc/PID/status\`) is read again; the figure is the growth divided by $n,"
  echo "median of ${rounds} runs. A last verified echo on every connection proves all were still alive."
  echo "Kernel socket memory is not in any process's RSS, and is the same for every server."
  echo
  echo "RSS per idle connection (bytes, lower is better):"
  echo
  echo "| server | bytes / connection | sluice / peer | RSS after start, warm, with $n idle (KiB) | address space (VmData) / connection | what an idle connection holds |"
  echo "|---|---:|---:|---:|---:|---|"
  for i in "${!servers[@]}"; do
    s=${servers[$i]}
    set -- ${first[$s]}
    vm=$(awk -v a="$4" -v b="$5" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    if [ "$s" = sluice_echo ]; then r="1.00"; else r=$(ratio "${per[sluice_echo]}" "${per[$s]}"); fi
    echo "| ${names[$i]} | ${per[$s]} | $r | $1, $2, $3 | $vm | ${holds[$i]} |"
  done
  echo
  echo "The ratio is sluice's bytes over the peer's: below 1.00 sluice holds less per connection."
  echo "RSS counts only pages that were touched: a buffer a peer reserves but has not written"
  echo "(asio's 64 KiB per session) shows in the address-space column, not in RSS. The KiB and"
  echo "address-space columns are from the first run."
} >"$md"
cat "$md"
