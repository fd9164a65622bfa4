#!/usr/bin/env bash
# What a user pays to build with sluice, against standalone asio (Debian's libasio-dev):
# the same minimal TCP echo server (bench/compile/hello_echo_sluice.cpp, the README's
# callback server, on the single header single_include/sluice.hpp; its twin
# bench/compile/hello_echo_asio.cpp on <asio.hpp>), compiled and linked in one g++
# command at -O0 and at -O2, in each way a user can build it:
#   sluice           the whole single header, header-only (the default)
#   sluice_sep       separate compilation: SLUICE_SEPARATE_COMPILATION, linked with
#                    bench/compile/sluice_impl.cpp's object (SLUICE_IMPLEMENTATION), built once
#   sluice_lt        only the loop and TCP layers: SLUICE_NO_HTTP, SLUICE_NO_PROXY, SLUICE_NO_GROUP
#   sluice_lt_sep    both
#   asio             <asio.hpp>, header-only
#   asio_sep         ASIO_SEPARATE_COMPILATION, linked with bench/compile/asio_impl.cpp's
#                    object (<asio/impl/src.hpp>), built once
# and, as floors, `int main() {}` (what g++ itself costs) and a unit of only the standard
# headers single_include/sluice.hpp includes in C++17. The two implementation units are
# timed too (compile only): that cost is paid once per program, not per unit.
# Wall seconds, median of RUNS (default 7) rounds after one untimed warm-up; each round
# builds every unit once, in turn, so a change in the machine's load hits all of them
# alike; CPU seconds (user + system) are reported beside them. Sizes are the -Os builds
# after strip (bytes). Every server must echo a line.
#
#   bash bench/compile/run.sh            full run: writes docs/bench/compile.md and build/bench/compile.tsv
#   bash bench/compile/run.sh --smoke    CI: one build of each, every server must echo a line;
#                                        writes build/bench/compile.tsv, nothing to docs/
# QUIET_LOAD=1.0 makes a full run first wait (up to 20 minutes) for the 1-minute load
# average to drop below 1.0: the machine may be shared, and compile times follow its load.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0
case "${1:-}" in
  "") ;;
  --smoke) smoke=1 ;;
  *) echo "usage: bash bench/compile/run.sh [--smoke]" >&2; exit 2 ;;
esac

if [ ! -f /usr/include/asio.hpp ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq libasio-dev >/dev/null
fi

load1() { cut -d' ' -f1 /proc/loadavg; }
if [ $smoke = 0 ] && [ -n "${QUIET_LOAD:-}" ]; then
  for _ in $(seq 240); do
    awk -v l="$(load1)" -v q="$QUIET_LOAD" 'BEGIN{exit !(l < q)}' && break
    sleep 5
  done
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

out=build/bench/compile
mkdir -p "$out"
printf 'int main() {}\n' > "$out/empty.cpp"
# The standard library headers of the single header (C++17: <coroutine> is C++20 only).
{
  grep -oE '^#include <[a-z_]+>' single_include/sluice.hpp | grep -v '<coroutine>' | sort -u
  printf 'int main() {}\n'
} > "$out/std_headers.cpp"
std_count=$(grep -c '^#include' "$out/std_headers.cpp")

lt="-DSLUICE_NO_HTTP -DSLUICE_NO_PROXY -DSLUICE_NO_GROUP"
declare -A src=(
  [empty]="$out/empty.cpp" [std]="$out/std_headers.cpp"
  [sluice]=bench/compile/hello_echo_sluice.cpp [sluice_sep]=bench/compile/hello_echo_sluice.cpp
  [sluice_lt]=bench/compile/hello_echo_sluice.cpp [sluice_lt_sep]=bench/compile/hello_echo_sluice.cpp
  [asio]=bench/compile/hello_echo_asio.cpp [asio_sep]=bench/compile/hello_echo_asio.cpp
  [sluice_impl]=bench/compile/sluice_impl.cpp [asio_impl]=bench/compile/asio_impl.cpp
)
declare -A defs=(
  [sluice_sep]="-DSLUICE_SEPARATE_COMPILATION" [sluice_lt]="$lt"
  [sluice_lt_sep]="-DSLUICE_SEPARATE_COMPILATION $lt"
  [asio_sep]="-DASIO_SEPARATE_COMPILATION" [asio_impl]="-DASIO_SEPARATE_COMPILATION"
)
# Each separately compiled unit is linked with the implementation object built at its level.
declare -A link=([sluice_sep]=sluice_impl [sluice_lt_sep]=sluice_impl [asio_sep]=asio_impl)
units=(sluice_impl asio_impl empty std sluice sluice_sep sluice_lt sluice_lt_sep asio asio_sep)
servers=(sluice sluice_sep sluice_lt sluice_lt_sep asio asio_sep)
runs=${RUNS:-7}
[ $smoke = 1 ] && runs=1

build() { # unit, optimisation -> $out/<unit><opt> (an object for the implementation units)
  local u=$1 opt=$2 extra=()
  # shellcheck disable=SC2206 # the definitions are a list of flags
  local d=(${defs[$u]:-})
  case $u in
    *_impl) g++ -std=c++17 -pthread -Isingle_include "${d[@]}" "$opt" -c "${src[$u]}" -o "$out/$u$opt.o"; return ;;
  esac
  [ -n "${link[$u]:-}" ] && extra=("$out/${link[$u]}$opt.o")
  g++ -std=c++17 -pthread -Isingle_include "${d[@]}" "$opt" "${src[$u]}" "${extra[@]}" -o "$out/$u$opt"
}
median() { tr -s ' ' '\n' <<< "$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# Wall time, and CPU time (user + system, the compiler's processes included): on a
# shared machine the CPU seconds move less with the load than the wall seconds do.
declare -A secs cpu samples cpu_samples bytes
TIMEFORMAT='%R %U %S'
# Smoke: -O0 only; step 2 of tools/test.sh builds all of sluice at -O2 anyway (30 s of CI).
opts=(-O0 -O2)
[ $smoke = 1 ] && opts=(-O0)
for opt in "${opts[@]}"; do
  # Warm-up; the implementation objects first. Smoke mode's single timed build is the
  # check that every unit builds, so it skips this one (it saved CI about 50 s).
  [ $smoke = 1 ] || for u in "${units[@]}"; do build "$u" "$opt"; done
  for _ in $(seq "$runs"); do
    for u in "${units[@]}"; do
      { time build "$u" "$opt"; } 2>"$out/time.txt"
      read -r real user sys < <(tail -1 "$out/time.txt")
      samples[$u,$opt]="${samples[$u,$opt]:-} $real"
      cpu_samples[$u,$opt]="${cpu_samples[$u,$opt]:-} $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.3f", u+s}')"
    done
  done
  for u in "${units[@]}"; do
    secs[$u,$opt]=$(median "${samples[$u,$opt]}")
    cpu[$u,$opt]=$(median "${cpu_samples[$u,$opt]}")
    printf '%-13s %s: %s s wall (runs:%s), %s s CPU\n' "$u" "$opt" "${secs[$u,$opt]}" \
      "${samples[$u,$opt]}" "${cpu[$u,$opt]}"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
for u in empty sluice asio; do
  build "$u" -Os
  strip "$out/$u-Os"
  bytes[$u]=$(stat -c %s "$out/$u-Os")
  printf '%-13s -Os stripped: %s bytes\n' "$u" "${bytes[$u]}"
done

# Every server must work: each -O0 build, and the stripped -Os ones, echoes one line on a
# free port in 22500-22599, and is stopped by its own PID.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=22500
for bin in "${servers[@]/%/-O0}" sluice-Os asio-Os; do
  while ! port_free $port; do
    port=$((port + 1))
    [ $port -le 22599 ] || { echo "FAIL: no free port in 22500-22599"; exit 1; }
  done
  "$out/$bin" $port &
  pid=$!
  msg="hello from bench/compile $bin"
  reply=""
  for _ in $(seq 50); do
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf '%s\n' "$msg" >&3 &&
              IFS= read -r -t 5 line <&3 && printf '%s' "$line") 2>/dev/null) || true
    [ -n "$reply" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  [ "$reply" = "$msg" ] || { echo "FAIL: $bin did not echo on port $port (got '$reply')"; exit 1; }
  echo "$bin echo server on port $port: echoed"
  port=$((port + 1))
done

# For bench/run.sh's summary: sluice against asio per workload, each mode against asio's
# header-only build, and separate compilation against asio's too.
tsv=build/bench/compile.tsv
{
  for opt in "${opts[@]}"; do
    printf 'compile %s\tsluice\t%s\ts\tlower\n' "$opt" "${secs[sluice,$opt]}"
    printf 'compile %s\tasio\t%s\ts\tlower\n' "$opt" "${secs[asio,$opt]}"
  done
  printf 'compile -O0 separate compilation\tsluice\t%s\ts\tlower\n' "${secs[sluice_sep,-O0]}"
  printf 'compile -O0 separate compilation\tasio\t%s\ts\tlower\n' "${secs[asio_sep,-O0]}"
  printf 'compile -O0 loop and TCP only\tsluice\t%s\ts\tlower\n' "${secs[sluice_lt,-O0]}"
  printf 'compile -O0 loop and TCP only\tasio\t%s\ts\tlower\n' "${secs[asio,-O0]}"
  for u in sluice asio; do printf 'binary size -Os stripped\t%s\t%s\tbytes\tlower\n' "$u" "${bytes[$u]}"; done
} > "$tsv"
if [ $smoke = 1 ]; then
  echo "compile smoke: every unit builds at -O0 (and -Os), every server echoes ($tsv)"
  exit 0
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
lines() { wc -l < "$1" | tr -d ' '; }
row() { # label, unit
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "${secs[$2,-O0]}" \
    "$(ratio "${secs[$2,-O0]}" "${secs[asio,-O0]}")" "$(ratio "${secs[$2,-O0]}" "${secs[asio_sep,-O0]}")" \
    "${cpu[$2,-O0]}" "$(ratio "${cpu[$2,-O0]}" "${cpu[asio,-O0]}")" \
    "$(ratio "${cpu[$2,-O0]}" "${cpu[asio_sep,-O0]}")" \
    "${secs[$2,-O2]}" "$(ratio "${secs[$2,-O2]}" "${secs[asio,-O2]}")"
}
aim() { # label, unit, against, limit
  local r c; r=$(ratio "${secs[$2,-O0]}" "${secs[$3,-O0]}"); c=$(ratio "${cpu[$2,-O0]}" "${cpu[$3,-O0]}")
  printf '| %s | %s | %s | at most %s | %s |\n' "$1" "$r" "$c" "$4" \
    "$(awk -v r="$r" -v l="$4" 'BEGIN{print (r <= l ? "yes" : "**no**")}')"
}
mkdir -p docs/bench
md=docs/bench/compile.md
{
  echo "# Compile time and binary size: sluice against asio"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++ $(g++ -dumpfullversion); sluice $(sed -n 's/.*SLUICE_VERSION_STRING "\(.*\)".*/\1/p' include/sluice/version.hpp)"
  echo "(single_include/sluice.hpp, $(lines single_include/sluice.hpp) lines), asio $(dpkg-query -W -f='${Version}' libasio-dev 2>/dev/null || echo unknown)"
  echo "(Debian libasio-dev). Regenerate: \`bash bench/compile/run.sh\`."
  echo "The machine is shared with other jobs: load average (1, 5, 15 min) $load_before before"
  echo "the timed builds and $load_after after them. Every round builds each unit once, in turn,"
  echo "so a change of load falls on all of them alike; the ratios are steadier than the seconds,"
  echo "and the CPU seconds (user + system of the compiler's processes) steadier than the wall ones."
  echo
  echo "The same minimal TCP echo server (127.0.0.1, every byte back, stops on SIGINT/SIGTERM):"
  echo "bench/compile/hello_echo_sluice.cpp ($(lines bench/compile/hello_echo_sluice.cpp) lines, the README's callback server) and"
  echo "bench/compile/hello_echo_asio.cpp ($(lines bench/compile/hello_echo_asio.cpp) lines, C++17 callbacks). Compile time is"
  echo "one \`g++ -std=c++17 -pthread -Isingle_include <opt> file.cpp [impl.o] -o out\` (compile and link), wall seconds,"
  echo "median of ${runs} rounds after one untimed warm-up. In separate compilation the implementation"
  echo "object (bench/compile/sluice_impl.cpp, bench/compile/asio_impl.cpp) is built once beforehand and"
  echo "only linked; its own cost is in the last rows. The modes are described in"
  echo "[the README](../../README.md#compile-time-leaving-layers-out-and-separate-compilation)."
  echo
  echo "| translation unit | -O0 wall (s) | / asio | / asio separate | -O0 CPU (s) | / asio | / asio separate | -O2 wall (s) | / asio |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  row "empty \`int main() {}\` (g++ alone)" empty
  row "the ${std_count} standard headers sluice includes, nothing else" std
  row "sluice, whole single header (header-only)" sluice
  row "sluice, separate compilation" sluice_sep
  row "sluice, loop and TCP only (\`SLUICE_NO_HTTP\`, \`SLUICE_NO_PROXY\`, \`SLUICE_NO_GROUP\`)" sluice_lt
  row "sluice, loop and TCP only, separate compilation" sluice_lt_sep
  row "asio, header-only" asio
  row "asio, \`ASIO_SEPARATE_COMPILATION\`" asio_sep
  row "once per program: sluice's implementation unit (\`-c\`)" sluice_impl
  row "once per program: asio's implementation unit (\`-c\`)" asio_impl
  echo
  echo "The aims of issue 21 (g++ -O0, this echo server, against asio's equivalent unit):"
  echo
  echo "| aim | sluice / asio, wall | CPU | aim | met (wall) |"
  echo "|---|---:|---:|---:|---|"
  aim "separate compilation, against asio header-only" sluice_sep asio 0.5
  aim "separate compilation, against asio's separate compilation" sluice_sep asio_sep 0.5
  aim "whole single header, header-only" sluice asio 0.8
  aim "loop and TCP only, header-only" sluice_lt asio 0.5
  echo
  echo "Binary size, \`-Os\` after \`strip\` (bytes): empty ${bytes[empty]}, sluice ${bytes[sluice]},"
  echo "asio ${bytes[asio]}; sluice / asio $(ratio "${bytes[sluice]}" "${bytes[asio]}")."
} > "$md"
cat "$md"
