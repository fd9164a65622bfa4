#!/usr/bin/env bash
# Compiles the include-order checks with MinGW (-fsyntax-only): four orders of
# sluice.hpp and the Windows headers, each with and without NOMINMAX and
# WIN32_LEAN_AND_MEAN, C++17 and C++20, against include/ and single_include/.
# Usage: bash tools/win_include_check/run.sh [CXX]   (default x86_64-w64-mingw32-g++-posix)
set -euo pipefail
cxx=${1:-x86_64-w64-mingw32-g++-posix}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
jobs=${JOBS:-2}
list=$(mktemp)
trap 'rm -f "$list"' EXIT
for tu in sluice_first windows_first winsock2_first sluice_only; do
  for defs in "" "-DNOMINMAX" "-DWIN32_LEAN_AND_MEAN" "-DNOMINMAX -DWIN32_LEAN_AND_MEAN"; do
    for std in 17 20; do
      for inc in include single_include; do
        echo "$tu|$defs|$std|$inc" >>"$list"
      done
    done
  done
done
export cxx here root
check_one() {
  IFS='|' read -r tu defs std inc <<<"$1"
  # shellcheck disable=SC2086
  if out=$("$cxx" -std=c++$std -Wall -Wextra -Wpedantic -Werror -fsyntax-only $defs \
        -I"$root/$inc" "$here/$tu.cpp" 2>&1); then
    echo "ok   $tu c++$std $inc ${defs:-(no defines)}"
  else
    echo "FAIL $tu c++$std $inc ${defs:-(no defines)}"
    echo "$out" | head -20
    return 1
  fi
}
export -f check_one
if xargs -a "$list" -d '\n' -P "$jobs" -I{} bash -c 'check_one "$@"' _ {}; then
  echo "all $(wc -l <"$list") include-order checks compile"
else
  echo "include-order checks FAILED"
  exit 1
fi
