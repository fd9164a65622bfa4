#!/usr/bin/env bash
# Timers, side by side: schedule, cancel and fire 1,000,000 one-shot timers with sluice,
# libuv, standalone asio and libevent (Debian packages), built -O2, one thread, pinned to
# core 0. The workload is the same for all four and is spelled out in
# bench/timers/timers_common.h: start N timers with distinct scrambled deadlines, cancel
# the odd-numbered half, let the rest expire, then time the loop firing them. Every
# program checks that each remaining timer fired exactly once and no cancelled one did.
#
#   bash bench/timers/run.sh            full run: N=1000000 (TIMERS=...), ROUNDS=3 (median),
#                                       writes docs/bench/timers.md and build/bench/timers.tsv
#   bash bench/timers/run.sh --smoke    CI: N=100000, one round, checks only; writes
#                                       build/bench/timers.tsv, nothing to docs/
#   TIMERS_CLOCK=cpu bash ...           phases in thread CPU time instead of wall time
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0
case "${1:-}" in
  "") ;;
  --smoke) smoke=1 ;;
  *) echo "usage: bash bench/timers/run.sh [--smoke]" >&2; exit 2 ;;
esac

source bench/lib.sh
bench_install_peers

out=build/bench
mkdir -p "$out"
cxx="g++ -O2 -DNDEBUG -std=c++17 -pthread"
cc="gcc -O2 -DNDEBUG"
$cxx -Iinclude bench/timers/sluice_timers.cpp -o "$out/sluice_timers"
$cc bench/timers/uv_timers.c -luv -o "$out/uv_timers"
$cxx bench/timers/asio_timers.cpp -o "$out/asio_timers"
$cc bench/timers/event_timers.c -levent -o "$out/event_timers"

progs=(sluice_timers uv_timers asio_timers event_timers)
names=(sluice libuv asio libevent)
phases=(schedule cancel fire)
n=${TIMERS:-1000000}
rounds=${ROUNDS:-3}
args=()
if [ $smoke = 1 ]; then
  n=100000; rounds=1
  args=(--base-ms 500 --span-ms 200) # 100,000 distinct deadlines, about 0.8 s per program
fi
clock=wall
if [ "${TIMERS_CLOCK:-}" = cpu ]; then clock=cpu; args+=(--cpu-time); fi
pin=""
command -v taskset >/dev/null && pin="taskset -c 0"

median() { tr -s ' ' '\n' <<< "$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# Several rounds, the order rotated each round; each cell is the median of its rounds.
declare -A samples value
for round in $(seq "$rounds"); do
  for k in "${!progs[@]}"; do
    i=$(( (k + round - 1) % ${#progs[@]} ))
    p=${progs[$i]}; name=${names[$i]}
    line=$($pin "$out/$p" --timers "$n" "${args[@]}") || { echo "FAIL: $name: ${line:-no output}"; exit 1; }
    read -r w1 sched w2 canc w3 fire rest <<< "$line"
    if [ "$w1 $w2 $w3" != "schedule cancel fire" ] || [ -n "$rest" ]; then
      echo "FAIL: $name printed: $line"; exit 1
    fi
    samples[$name,schedule]="${samples[$name,schedule]:-} $sched"
    samples[$name,cancel]="${samples[$name,cancel]:-} $canc"
    samples[$name,fire]="${samples[$name,fire]:-} $fire"
    printf 'round %d %-9s %s ns/timer\n' "$round" "$name" "$line"
  done
done
for key in "${!samples[@]}"; do
  value[$key]=$(median "${samples[$key]}")
done

tsv=$out/timers.tsv
: > "$tsv"
for ph in "${phases[@]}"; do
  for name in "${names[@]}"; do
    printf 'timers %s\t%s\t%s\tns/timer\tlower\n' "$ph" "$name" "${value[$name,$ph]}" >> "$tsv"
  done
done
if [ $smoke = 1 ]; then
  echo "timers smoke: $n timers per library; every fire and every cancel checked ($tsv)"
  exit 0
fi

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
mkdir -p docs/bench
md=docs/bench/timers.md
{
  echo "# Timers: sluice against its peers"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++/gcc $(g++ -dumpfullversion) -O2; libuv $(ver libuv1-dev), asio $(ver libasio-dev),"
  echo "libevent $(ver libevent-dev) (Debian packages). One thread pinned to core 0; median of ${rounds} rounds"
  echo "(order rotated each round); $clock time. Regenerate: \`bash bench/timers/run.sh\`."
  echo
  echo "The workload (bench/timers/timers_common.h), the same for every library, with N = $n:"
  echo
  echo "- **schedule**: create and start N one-shot timers (sluice::timer::start, uv_timer_init +"
  echo "  uv_timer_start, asio::steady_timer::expires_after + async_wait, evtimer_assign + evtimer_add),"
  echo "  each due 2 s + a distinct scrambled offset in [0, 1 s) after it is started (libuv: rounded"
  echo "  up to its millisecond resolution). Per timer started."
  echo "- **cancel**: cancel every odd-numbered timer (N/2, scattered over the queue); for sluice and"
  echo "  asio, whose cancelled waits complete with operation_aborted, a non-blocking poll delivers those"
  echo "  completions inside the phase. Per timer cancelled."
  echo "- **fire**: after an untimed sleep past the last deadline, run the loop until idle: it pops and"
  echo "  calls the N/2 expired timers. Per timer fired."
  echo
  echo "Every program checks that each non-cancelled timer fired exactly once and no cancelled one did."
  echo
  echo "Nanoseconds per timer (lower is better):"
  echo
  echo "| library | schedule | cancel | fire |"
  echo "|---|---:|---:|---:|"
  for name in "${names[@]}"; do
    echo "| $name | ${value[$name,schedule]} | ${value[$name,cancel]} | ${value[$name,fire]} |"
  done
  echo
  echo "Ratios, sluice / peer (below 1.0: sluice is faster):"
  echo
  echo "| peer | schedule | cancel | fire |"
  echo "|---|---:|---:|---:|"
  for name in "${names[@]}"; do
    [ "$name" = sluice ] && continue
    row="| $name |"
    for ph in "${phases[@]}"; do
      row="$row $(awk -v a="${value[sluice,$ph]}" -v b="${value[$name,$ph]}" 'BEGIN{printf "%.2f", a/b}') |"
    done
    echo "$row"
  done
} > "$md"
cat "$md"
