#!/usr/bin/env bash
# The Windows build, tested on this Linux machine: cross-compiles the test suite and the
# examples with Debian's mingw-w64 (g++ posix threads, static runtime, -Werror) and runs
# the whole suite under wine64 on loopback, each handle suite once per Windows backend
# (poll = WSAPoll, and select). Prints each program's doctest counts, then
# "windows: N passed, N failed"; exits non-zero on any failure.
# Usage: bash tools/test-windows.sh      (BUILD_DIR=dir, default build/mingw; JOBS=N;
#                                          TEST_TIMEOUT=seconds per test, default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

# What it needs, installed only when missing.
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have x86_64-w64-mingw32-g++-posix || need+=(g++-mingw-w64-x86-64-posix)
have wine64 || [ -x /usr/lib/wine/wine64 ] || need+=(wine64)
have cmake || need+=(cmake)
have ninja || need+=(ninja-build)
have flock || need+=(util-linux)
[ -f /usr/include/doctest/doctest.h ] || need+=(doctest-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-windows: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

build=${BUILD_DIR:-build/mingw}
jobs=${JOBS:-$(nproc)}
per_test=${TEST_TIMEOUT:-300}
warn="-Wall -Wextra -Wpedantic -Werror"

echo "-- mingw-w64: $(x86_64-w64-mingw32-g++-posix --version | head -1)"
# -O1: this build checks that the code compiles for Windows and that the suite passes
# under wine; -O2/-O3 code generation is the Linux builds' (a third more build time here).
cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw-w64.cmake \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="$warn" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DSLUICE_TEST_TIMEOUT="$per_test" >/dev/null
cmake --build "$build" -j "$jobs"
built=$(date +%s)

# One wine prefix for every test, made before they start (the first run takes seconds).
prefix=$(cd "$build" && pwd)/wineprefix
bash tools/wine-run.sh --prefix "$prefix" --init
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
echo "-- wine: $("$wine" --version)"

# sluice.hpp before and after <windows.h>, with and without NOMINMAX / WIN32_LEAN_AND_MEAN.
JOBS=$jobs bash tools/win_include_check/run.sh | tail -1
# The self-checking smoke program: every handle type and protocol once per backend.
x86_64-w64-mingw32-g++-posix -std=c++20 -O2 $warn -Isingle_include tools/win_smoke.cpp \
  -static -pthread -lws2_32 -o "$build/win_smoke.exe"
bash tools/wine-run.sh --prefix "$prefix" "$build/win_smoke.exe" | tail -1

set +e
(cd "$build" && ctest -j "$jobs" --timeout "$per_test" --output-on-failure) | tee "$build/ctest.out"
status=${PIPESTATUS[0]}
set -e
# The wine server lingers a few seconds after its last program: let it go now.
WINEPREFIX=$prefix timeout 60 wineserver -w || true

echo "== windows summary (wine64, mingw-w64; poll = WSAPoll, select)"
# Each test program's doctest totals, from ctest's full log of the run.
awk '
  /^[0-9]+\/[0-9]+ Test: / { name = $3 }
  /^\[doctest\] test cases:/ { sub(/^\[doctest\] /, ""); gsub(/ +/, " "); cases[name] = $0 }
  /^\[doctest\] assertions:/ {
    sub(/^\[doctest\] /, ""); gsub(/ +/, " "); sub(/ \|$/, "")
    printf "  %-24s %s; %s\n", name, cases[name], $0
    split(cases[name], f, " "); runs++; total += f[3]; ok += f[5]; bad += f[8]
  }
  END { if (runs) printf "  doctest, %d programs: %d test cases, %d passed, %d failed\n", runs, total, ok, bad }
' "$build/Testing/Temporary/LastTest.log" || true
passed=0
failed=0
line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$build/ctest.out" | tail -1 || true)
if [ -n "$line" ]; then
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  failed=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((total - failed))
else
  failed=1 # ctest did not get as far as its summary
fi
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
[ -z "$line" ] || echo "  ctest: $line"
now=$(date +%s)
echo "  build $((built - started)) s, tests $((now - built)) s, total $((now - started)) s"
echo "windows: $passed passed, $failed failed"
exit "$status"
