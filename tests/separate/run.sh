#!/usr/bin/env bash
# Separate-compilation mode, with each compiler given and each flag set below, against
# include/ and against the single header: tests/separate/*.cpp build (all with
# SLUICE_SEPARATE_COMPILATION, impl.cpp with SLUICE_IMPLEMENTATION), link and run; the
# implementation object defines the out-of-line functions (strong symbols) and no other
# object defines any of them again (they would otherwise be compiled in every unit).
#   run.sh WORKDIR CXX...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$1
shift
mkdir -p "$work"
fail=0
for cxx in "$@"; do
  for flags in "-std=c++17" "-std=c++20" "-std=c++17 -fno-exceptions -fno-rtti"; do
    for inc in include single_include; do
      what="$cxx $flags $inc"
      objs=()
      # deflate.cpp (and impl.cpp) opt in to permessage-deflate, hence -lz below.
      for unit in impl net protocols deflate main; do
        # shellcheck disable=SC2086 # $flags is a list of flags
        "$cxx" $flags -Wall -Wextra -Wpedantic -Werror -DSLUICE_SEPARATE_COMPILATION -O0 -c \
          -I "$root/$inc" "$root/tests/separate/$unit.cpp" -o "$work/$unit.o"
        objs+=("$work/$unit.o")
      done
      "$cxx" "${objs[@]}" -pthread -lz -o "$work/separate"
      if ! "$work/separate" >"$work/out.txt"; then
        echo "FAIL ($what): $(cat "$work/out.txt")"; fail=1; continue
      fi
      out_of_line=$(nm -C --defined-only "$work/impl.o" | awk '$2 == "T"' | grep -c ' sluice::' || true)
      if [ "$out_of_line" -lt 50 ]; then
        echo "FAIL ($what): impl.o defines only $out_of_line sluice functions out of line"; fail=1; continue
      fi
      nm --defined-only "$work/impl.o" | awk '$2 == "T" {print $3}' | sort -u >"$work/impl.syms"
      again=$(for o in net protocols deflate; do nm --defined-only "$work/$o.o" | awk '{print $3}'; done |
              sort -u | comm -12 - "$work/impl.syms" | c++filt | head -5)
      if [ -n "$again" ]; then
        echo "FAIL ($what): compiled outside impl.o too:"; echo "$again"; fail=1; continue
      fi
      echo "ok ($what): $out_of_line functions compiled once, in impl.o; $(cat "$work/out.txt")"
    done
  done
done
exit $fail
