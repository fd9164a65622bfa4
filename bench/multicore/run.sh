#!/usr/bin/env bash
# Multi-core: sluice's loop_group (examples/echo_server and examples/http_hello with
# --threads N) with its two ways of spreading connections, against one thread, and
# HTTP against nginx with as many workers. Spreads measured:
#   reuseport       every loop has its own listener (SO_REUSEPORT; the kernel spreads)
#   acceptor rr     loop 0 accepts and hands sockets out round robin (it serves too)
#   acceptor least  loop 0 hands each socket to the loop with the fewest connections
# Workloads: TCP echo 64 B x 100 connections (bench/echo/echo_load, every byte checked),
# HTTP plaintext keep-alive and pipelined x16 with wrk, 256 connections.
#
# This machine has 2 cores, so with --threads 2 the server and its load generator
# share them: nothing is pinned here, and the numbers say how the spreads compare
# under that contention, not how far sluice scales (docs/multicore.md says how to
# measure that on a bigger machine).
#
#   bash bench/multicore/run.sh [--threads N]     full: ROUNDS=3 x SECONDS_PER_CELL=5, writes docs/bench/multicore.md
#   bash bench/multicore/run.sh --smoke           CI: 1 s cells; every server answers, every byte checks
# Both write build/bench/multicore.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0; secs=${SECONDS_PER_CELL:-5}; rounds=${ROUNDS:-3}; threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; secs=1; rounds=1 ;;
    --threads) threads=$2; shift ;;
    *) echo "usage: bash bench/multicore/run.sh [--smoke] [--threads N]" >&2; exit 2 ;;
  esac
  shift
done
[ "$threads" -ge 2 ] || threads=2

source bench/lib.sh
bench_install nginx:nginx wrk:wrk curl:curl
nginx=$(command -v nginx || echo /usr/sbin/nginx)

out=build/bench/multicore
mkdir -p "$out"
cxx="g++ -O2 -DNDEBUG -std=c++17 -pthread -Iinclude"
$cxx examples/echo_server.cpp -o "$out/echo_server" &
b1=$!
$cxx examples/http_hello.cpp -o "$out/http_hello" &
b2=$!
g++ -O2 -std=c++17 bench/echo/echo_load.cpp -o "$out/echo_load"
wait $b1 && wait $b2

work=$(mktemp -d /tmp/sluice-multicore.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
bench_pipeline_lua "$work/pipeline.lua"

port=23100
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "FAIL: nothing listens on port $1"; exit 1
}
start_nginx() { # workers port
  mkdir -p "$work/nginx$2"
  bench_nginx_conf "$1" "$2" "$work/nginx$2" >"$work/nginx$2/nginx.conf"
  "$nginx" -c "$work/nginx$2/nginx.conf" -p "$work/nginx$2" -e "$work/nginx$2/error.log" >/dev/null 2>&1 &
  pid=$!
}
wrk_cell() { # url pipelined? -> req/s, or fail
  local cmd=(wrk -t1 -c256 "-d${secs}s" "$1")
  [ "$2" = 1 ] && cmd=(wrk -t1 -c256 "-d${secs}s" -s "$work/pipeline.lua" "$1" -- 16)
  # Runs in $(...): failures go to stderr and leave the result empty, which add() refuses.
  "${cmd[@]}" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; echo "FAIL: wrk $1" >&2; return 1; }
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
    cat "$work/wrk.out" >&2; echo "FAIL: errors from $1" >&2; return 1
  fi
  awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out"
}

configs=("1 thread|--threads 1" "$threads threads, reuseport|--threads $threads --spread reuseport"
         "$threads threads, acceptor rr|--threads $threads --spread acceptor --policy rr"
         "$threads threads, acceptor least|--threads $threads --spread acceptor --policy least")
declare -A samples rate
add() {
  [[ "$2" =~ ^[0-9]+$ ]] || { echo "FAIL: $1: no result"; exit 1; }
  samples[$1]="${samples[$1]:-} $2"; printf 'round %d %-40s %s\n' "$round" "$1" "$2"; }
for round in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    name=${c%%|*}; flags=${c#*|}
    port=$((port + 1))
    # shellcheck disable=SC2086
    "$out/echo_server" --port $port $flags >/dev/null 2>&1 &
    pid=$!
    wait_port $port
    line=$("$out/echo_load" --port $port --size 64 --connections 100 --seconds "$secs") || {
      echo "FAIL: echo_server $flags: $line"; exit 1; }
    add "echo 64 B x 100|sluice, $name" "$(echo "$line" | awk '{print $2}')"
    kill $pid; wait $pid 2>/dev/null || true; pid=""

    port=$((port + 1))
    # shellcheck disable=SC2086
    "$out/http_hello" --port $port $flags >/dev/null 2>&1 &
    pid=$!
    wait_port $port
    body=$(curl -s "http://127.0.0.1:$port/plaintext")
    [ "$body" = "Hello, World!" ] || { echo "FAIL: http_hello $flags answered '$body'"; exit 1; }
    add "http keep-alive|sluice, $name" "$(wrk_cell "http://127.0.0.1:$port/plaintext" 0)"
    add "http pipelined x16|sluice, $name" "$(wrk_cell "http://127.0.0.1:$port/plaintext" 1)"
    kill $pid; wait $pid 2>/dev/null || true; pid=""
  done
  for workers in 1 "$threads"; do
    port=$((port + 1))
    start_nginx "$workers" $port
    wait_port $port
    label="nginx, $workers worker(s)"
    add "http keep-alive|$label" "$(wrk_cell "http://127.0.0.1:$port/plaintext" 0)"
    add "http pipelined x16|$label" "$(wrk_cell "http://127.0.0.1:$port/plaintext" 1)"
    kill $pid; wait $pid 2>/dev/null || true; pid=""
  done
done
for key in "${!samples[@]}"; do
  rate[$key]=$(bench_median "${samples[$key]}")
done

tsv=build/bench/multicore.tsv
: >"$tsv"
for key in "${!rate[@]}"; do
  printf '%s\t%s\t%s\t%s\thigher\n' "${key%%|*}" "${key#*|}" "${rate[$key]}" \
    "$([ "${key%%|*}" = "echo 64 B x 100" ] && echo msg/s || echo req/s)" >>"$tsv"
done
sort -o "$tsv" "$tsv"
[ $smoke = 1 ] && { echo "multicore smoke: every spread answered, every byte checked; wrote $tsv"; exit 0; }

md=docs/bench/multicore.md
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
{
  echo "# Multi-core: loop_group spreads on $threads threads"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++ $(g++ -dumpfullversion), $("$nginx" -v 2>&1 | sed 's/.*: //'); median of $rounds rounds of"
  echo "$secs s per cell. Regenerate: \`bash bench/multicore/run.sh\`."
  echo
  echo "Nothing is pinned: with $threads server threads on $(nproc) cores, the server and its"
  echo "load generator (echo_load or wrk, one thread each) compete for the same cores, so"
  echo "these numbers compare the spreads with each other under contention; they are not a"
  echo "scaling curve (see docs/multicore.md for how to measure one)."
  echo
  echo "| workload | configuration | rate | vs 1 thread |"
  echo "|---|---|---:|---:|"
  for w in "echo 64 B x 100" "http keep-alive" "http pipelined x16"; do
    base=${rate["$w|sluice, 1 thread"]}
    for c in "${configs[@]}"; do
      name=${c%%|*}
      echo "| $w | sluice, $name | ${rate["$w|sluice, $name"]} | $(ratio "${rate["$w|sluice, $name"]}" "$base") |"
    done
    if [ "$w" != "echo 64 B x 100" ]; then
      n1=${rate["$w|nginx, 1 worker(s)"]}
      for workers in 1 "$threads"; do
        echo "| $w | nginx, $workers worker(s) | ${rate["$w|nginx, $workers worker(s)"]} | $(ratio "${rate["$w|nginx, $workers worker(s)"]}" "$n1") |"
      done
    fi
  done
  echo
  echo "sluice ($threads threads, reuseport) / nginx ($threads workers):"
  for w in "http keep-alive" "http pipelined x16"; do
    echo "- $w: $(ratio "${rate["$w|sluice, $threads threads, reuseport"]}" "${rate["$w|nginx, $threads worker(s)"]}")"
  done
} >"$md"
cat "$md"
