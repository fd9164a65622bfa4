#!/usr/bin/env bash
# A translation unit that includes sluice but uses nothing of it must compile to no
# sluice code at all: every function is inline, and no class may have a key function
# (a virtual function declared without `inline`), or GCC emits its vtable and all it
# reaches in every TU — the WebSocket implementation once cost every user ~0.3 s of
# compile time this way. A member function moved out of its class (impl/*.ipp) must
# therefore be declared SLUICE_DECL in the class too. And a TU that uses only the loop
# and TCP (bench/compile/hello_echo_sluice.cpp) must emit no code of the layers it does
# not use. Usage: check_unused_code.sh CXX
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
unused='sluice::(ws|http|proxy)::|sluice::detail::udp_impl|sluice::loop_group'
for inc in include single_include; do
  "$cxx" -std=c++17 -O0 -c -I"$root/$inc" "$root/bench/compile/hello_echo_sluice.cpp" -o "$tmp/echo.o"
  emitted=$(nm -C "$tmp/echo.o" | grep -cE "$unused" || true)
  if [ "$emitted" != 0 ]; then
    echo "FAIL: $inc: the TCP echo server emits $emitted symbols of layers it does not use, e.g.:"
    nm -C "$tmp/echo.o" | grep -E "$unused" | head -5
    fail=1
  else
    echo "ok: $inc: the TCP echo server emits nothing of http, ws, proxy, udp or loop_group"
  fi
done
exit $fail
