#!/usr/bin/env bash
# A translation unit that includes sluice but uses nothing of it must compile to no
# sluice code at all: every function is inline, and no class may have a key function
# (a virtual function declared without `inline`), or GCC emits its vtable and all it
# reaches in every TU — the WebSocket implementation once cost every user ~0.3 s of
# compile time this way. Usage: check_unused_code.sh CXX
set -euo pipefail
cxx=${1:-g++}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <sluice.hpp>\nint main() {}\n' >"$tmp/empty.cpp"
fail=0
for inc in include single_include; do
  for std in 17 20; do
    "$cxx" -std=c++$std -O0 -c -I"$root/$inc" "$tmp/empty.cpp" -o "$tmp/empty.o"
    emitted=$(nm -C "$tmp/empty.o" | grep -c 'sluice::' || true)
    if [ "$emitted" != 0 ]; then
      echo "FAIL: $inc, C++$std: an empty TU emits $emitted sluice symbols, e.g.:"
      nm -C "$tmp/empty.o" | grep 'sluice::' | head -5
      fail=1
    else
      echo "ok: $inc, C++$std: an empty TU emits no sluice code"
    fi
  done
done
exit $fail
