#!/usr/bin/env bash
# What a user pays to build with sluice, against standalone asio (Debian's libasio-dev):
# the same minimal TCP echo server (bench/compile/hello_echo_sluice.cpp on the single
# header single_include/sluice.hpp, bench/compile/hello_echo_asio.cpp on <asio.hpp>),
# compiled and linked in one g++ command at -O0 and at -O2 (wall seconds, median of 5
# after one untimed warm-up), and its size built -Os and stripped (bytes). An empty
# `int main() {}` is timed too, as the floor g++ itself costs; it is reported, not
# subtracted.
#
#   bash bench/compile/run.sh            full run: writes docs/bench/compile.md and build/bench/compile.tsv
#   bash bench/compile/run.sh --smoke    CI: one build of each, both servers must echo a line;
#                                        writes build/bench/compile.tsv, nothing to docs/
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

out=build/bench/compile
mkdir -p "$out"
printf 'int main() {}\n' > "$out/empty.cpp"
declare -A src=(
  [empty]="$out/empty.cpp"
  [sluice]="bench/compile/hello_echo_sluice.cpp"
  [asio]="bench/compile/hello_echo_asio.cpp"
)
units=(empty sluice asio)
runs=${RUNS:-5}
[ $smoke = 1 ] && runs=1
build() { # unit, flags..., -> $out/<unit>
  local u=$1; shift
  g++ -std=c++17 -pthread -Isingle_include "$@" "${src[$u]}" -o "$out/$u"
}
now() { date +%s.%N; }
median() { tr -s ' ' '\n' <<< "$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

declare -A secs bytes
for opt in -O0 -O2; do
  for u in "${units[@]}"; do
    [ $smoke = 1 ] || build "$u" "$opt" # warm-up: headers in the page cache, g++ paged in
    samples=""
    for _ in $(seq "$runs"); do
      t0=$(now)
      build "$u" "$opt"
      t1=$(now)
      samples="$samples $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
    done
    secs[$u,$opt]=$(median "$samples")
    printf '%-6s %s: %s s (runs:%s)\n' "$u" "$opt" "${secs[$u,$opt]}" "$samples"
  done
done
for u in "${units[@]}"; do
  build "$u" -Os
  strip "$out/$u"
  bytes[$u]=$(stat -c %s "$out/$u")
  printf '%-6s -Os stripped: %s bytes\n' "$u" "${bytes[$u]}"
done

# The stripped -Os servers must work: each echoes one line on a free port in 22500-22599,
# and is stopped by its own PID.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=22500
for u in sluice asio; do
  while ! port_free $port; do
    port=$((port + 1))
    [ $port -le 22599 ] || { echo "FAIL: no free port in 22500-22599"; exit 1; }
  done
  "$out/$u" $port &
  pid=$!
  msg="hello from bench/compile $u"
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
  [ "$reply" = "$msg" ] || { echo "FAIL: $u did not echo on port $port (got '$reply')"; exit 1; }
  echo "$u echo server on port $port: echoed"
  port=$((port + 1))
done

tsv=build/bench/compile.tsv
{
  for opt in -O0 -O2; do
    for u in sluice asio; do printf 'compile %s\t%s\t%s\ts\tlower\n' "$opt" "$u" "${secs[$u,$opt]}"; done
  done
  for u in sluice asio; do printf 'binary size -Os stripped\t%s\t%s\tbytes\tlower\n' "$u" "${bytes[$u]}"; done
} > "$tsv"
if [ $smoke = 1 ]; then
  echo "compile smoke: both servers build at -O0, -O2 and -Os and echo ($tsv)"
  exit 0
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
lines() { wc -l < "$1" | tr -d ' '; }
mkdir -p docs/bench
md=docs/bench/compile.md
{
  echo "# Compile time and binary size: sluice against asio"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++ $(g++ -dumpfullversion); sluice $(sed -n 's/.*SLUICE_VERSION_STRING "\(.*\)".*/\1/p' include/sluice/version.hpp)"
  echo "(single_include/sluice.hpp, $(lines single_include/sluice.hpp) lines), asio $(dpkg-query -W -f='${Version}' libasio-dev 2>/dev/null || echo unknown)"
  echo "(Debian libasio-dev). Regenerate: \`bash bench/compile/run.sh\`."
  echo
  echo "The same minimal TCP echo server (127.0.0.1, every byte back, stops on SIGINT/SIGTERM):"
  echo "bench/compile/hello_echo_sluice.cpp ($(lines bench/compile/hello_echo_sluice.cpp) lines) and"
  echo "bench/compile/hello_echo_asio.cpp ($(lines bench/compile/hello_echo_asio.cpp) lines, C++17 callbacks). Compile time is"
  echo "one \`g++ -std=c++17 -pthread -Isingle_include <opt> file.cpp -o out\` (compile and link), wall seconds,"
  echo "median of ${runs} runs after one untimed warm-up. Size is the \`-Os\` build after \`strip\`."
  echo "The empty \`int main() {}\` row is what g++ costs with no library at all; it is not subtracted."
  echo
  echo "| translation unit | compile -O0 (s) | compile -O2 (s) | binary size -Os stripped (bytes) |"
  echo "|---|---:|---:|---:|"
  echo "| empty \`int main() {}\` (baseline) | ${secs[empty,-O0]} | ${secs[empty,-O2]} | ${bytes[empty]} |"
  echo "| sluice | ${secs[sluice,-O0]} | ${secs[sluice,-O2]} | ${bytes[sluice]} |"
  echo "| asio | ${secs[asio,-O0]} | ${secs[asio,-O2]} | ${bytes[asio]} |"
  echo
  echo "Ratio, sluice / asio (below 1.0: sluice is cheaper):"
  echo
  echo "| compile -O0 | compile -O2 | binary size -Os stripped |"
  echo "|---:|---:|---:|"
  echo "| $(ratio "${secs[sluice,-O0]}" "${secs[asio,-O0]}") | $(ratio "${secs[sluice,-O2]}" "${secs[asio,-O2]}") | $(ratio "${bytes[sluice]}" "${bytes[asio]}") |"
} > "$md"
cat "$md"
