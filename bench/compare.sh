#!/usr/bin/env bash
# sluice against an earlier sluice, side by side in one run: the echo server
# (examples/echo_server.cpp) and the HTTP plaintext server (examples/http_hello.cpp) built
# -O2 from the working tree and from BASE, measured alternately, round after round, with
# the same load generators as bench/echo and bench/http (echo_load; wrk, one thread, 256
# connections). Servers are pinned to core 0, the load to core 1. Every cell reports the
# median of its rounds and the server's own CPU time per message beside it; the last
# column is the working tree's rate over BASE's.
#
#   bash bench/compare.sh BASE          e.g. BASE=a4b2ea8 or HEAD~3; ROUNDS (5) x SECS (5) s per cell
#   bash bench/compare.sh BASE --smoke  1 round of 1 s cells (checks that both run)
# Writes build/bench/compare.tsv and prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bash bench/compare.sh BASE [--smoke]" >&2; exit 2; }
base=$1
rounds=${ROUNDS:-5}; secs=${SECS:-5}
[ "${2:-}" = "--smoke" ] && { rounds=1; secs=1; }
git rev-parse --verify --quiet "$base^{commit}" >/dev/null || { echo "unknown commit: $base" >&2; exit 2; }

source bench/lib.sh
bench_install_peers wrk:wrk
out=build/bench/compare
rm -rf "$out" && mkdir -p "$out/base-src"
# The base tree, as committed (no worktree left behind).
git archive "$base" include examples | tar -x -C "$out/base-src"
cxx="g++ -O2 -DNDEBUG -std=c++17 -pthread"
builds=(
  "$cxx -Iinclude examples/echo_server.cpp -o $out/echo_new"
  "$cxx -I$out/base-src/include $out/base-src/examples/echo_server.cpp -o $out/echo_base"
  "$cxx -Iinclude examples/http_hello.cpp -o $out/http_new"
  "$cxx -I$out/base-src/include $out/base-src/examples/http_hello.cpp -o $out/http_base"
  "g++ -O2 -DNDEBUG -std=c++17 bench/echo/echo_load.cpp -o $out/echo_load"
)
pids=()
for b in "${builds[@]}"; do $b & pids+=($!); done
for k in "${!pids[@]}"; do wait "${pids[$k]}" || { echo "FAIL: build: ${builds[$k]}"; exit 1; }; done

pin_server=""; pin_load=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_load="taskset -c 1"; fi
work=$(mktemp -d /tmp/sluice-compare.XXXXXX)
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; pid=""; }
trap 'stop; rm -rf "$work"' EXIT
bench_pipeline_lua "$work/pipeline.lua"
tck=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
port=23999
start() { # binary
  port=$((port + 1))
  $pin_server "$out/$1" --port $port >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "FAIL: $1 did not start"; cat "$work/$1.log"; exit 1
}
# cell KIND ARGS... -> "rate us_per_msg"
echo_cell() { # size connections
  local t0 t1 line
  t0=$(cpu_ticks $pid)
  line=$($pin_load "$out/echo_load" --port $port --size "$1" --connections "$2" --seconds "$secs") || {
    echo "FAIL: echo_load: $line" >&2; return 1; }
  t1=$(cpu_ticks $pid)
  echo "$line" | awk -v t=$((t1 - t0)) -v hz="$tck" \
    '{for (i = 1; i < NF; i++) if ($i == "messages") m = $(i + 1)} END {printf "%.0f %.2f\n", $2, m ? t * 1e6 / hz / m : 0}'
}
http_cell() { # keep-alive|pipelined
  local t0 t1 cmd r n
  cmd=(wrk -t1 -c256 "-d${secs}s" "http://127.0.0.1:$port/plaintext")
  [ "$1" = pipelined ] && cmd=(wrk -t1 -c256 "-d${secs}s" -s "$work/pipeline.lua" "http://127.0.0.1:$port/plaintext" -- 16)
  t0=$(cpu_ticks $pid)
  $pin_load "${cmd[@]}" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; return 1; }
  t1=$(cpu_ticks $pid)
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then cat "$work/wrk.out" >&2; return 1; fi
  r=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.out")
  n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  awk -v r="$r" -v n="$n" -v t=$((t1 - t0)) -v hz="$tck" 'BEGIN {printf "%d %.2f\n", r, n ? t * 1e6 / hz / n : 0}'
}

cells=("echo 64 B x 1" "echo 64 B x 100" "echo 16 KiB x 100" "http keep-alive" "http pipelined x16")
declare -A rate cpu
for round in $(seq "$rounds"); do
  # Alternate which build goes first: the first server of a pass tends to get a better core.
  order=(new base); [ $((round % 2)) = 0 ] && order=(base new)
  for v in "${order[@]}"; do
    start "echo_$v"
    for c in "${cells[@]:0:3}"; do
      case "$c" in
        "echo 64 B x 1") res=$(echo_cell 64 1) ;;
        "echo 64 B x 100") res=$(echo_cell 64 100) ;;
        "echo 16 KiB x 100") res=$(echo_cell 16384 100) ;;
      esac
      rate[$v,$c]="${rate[$v,$c]:-} ${res% *}"; cpu[$v,$c]="${cpu[$v,$c]:-} ${res#* }"
      printf 'round %d %-5s %-20s %s\n' "$round" "$v" "$c" "$res"
    done
    stop
    start "http_$v"
    for c in "http keep-alive" "http pipelined x16"; do
      res=$(http_cell "$([ "$c" = "http keep-alive" ] && echo keep-alive || echo pipelined)")
      rate[$v,$c]="${rate[$v,$c]:-} ${res% *}"; cpu[$v,$c]="${cpu[$v,$c]:-} ${res#* }"
      printf 'round %d %-5s %-20s %s\n' "$round" "$v" "$c" "$res"
    done
    stop
  done
done

newref="working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- include examples || echo '+changes'))"
echo
echo "sluice $newref against $base ($(git rev-parse --short "$base")), $rounds rounds of ${secs} s, medians"
echo
echo "| workload | new msg/s | new us/msg | base msg/s | base us/msg | new / base |"
echo "|---|---:|---:|---:|---:|---:|"
: >build/bench/compare.tsv
for c in "${cells[@]}"; do
  nr=$(bench_median "${rate[new,$c]}"); br=$(bench_median "${rate[base,$c]}")
  nc=$(bench_median "${cpu[new,$c]}"); bc=$(bench_median "${cpu[base,$c]}")
  ratio=$(awk -v a="$nr" -v b="$br" 'BEGIN {printf "%.3f", b ? a / b : 0}')
  printf '| %s | %s | %s | %s | %s | %s |\n' "$c" "$nr" "$nc" "$br" "$bc" "$ratio"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$nr" "$nc" "$br" "$bc" "$ratio" >>build/bench/compare.tsv
done
