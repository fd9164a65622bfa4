#!/usr/bin/env bash
# Every header under include/ compiles on its own (includes what it uses), so a
# user may include any one of them, and the umbrella's order hides no missing include.
# Usage: check_headers.sh CXX
set -euo pipefail
cxx=${1:-g++}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
std=-std=c++17
for h in $(cd "$root/include" && find sluice -name '*.hpp' | sort) sluice.hpp; do
  case "$h" in sluice/coro*) std=-std=c++20 ;; *) std=-std=c++17 ;; esac
  echo "#include <$h>" > "$tmp/tu.cpp"
  if ! "$cxx" $std -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I "$root/include" "$tmp/tu.cpp" 2>"$tmp/err"; then
    echo "not self-contained: $h"; head -5 "$tmp/err"; fail=1
  fi
done
[ $fail = 0 ] && echo "every header compiles on its own"
exit $fail
