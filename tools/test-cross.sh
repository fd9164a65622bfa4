#!/usr/bin/env bash
# Other CPUs, tested on this x86-64 machine: builds the test suites with Debian's cross
# compilers (g++ 12, CMake Release = -O3, -Wall -Wextra -Wpedantic -Werror) for aarch64,
# armhf (32-bit ARM) and s390x (64-bit big-endian) and runs them under qemu-user:
#   every arch   the HTTP parser, serializer, URL and CORS tests, the WebSocket codec and
#                handshake, the PROXY protocol (test_http, test_ws, test_proxy; the
#                "wire: ..." length and endianness cases live there), and a checksummed echo
#                run: echo_server --backend epoll under qemu, a native client
#                (tests/echo_server/checksum_echo.py) on loopback, SHA-256 per connection
#   LOOP_ARCHES  (default: all three) also the loop, timer, TCP/UDP/Unix and loop_group
#                suite (test_loop), once per backend of LOOP_BACKENDS (epoll, poll)
#   FULL_ARCHES  (default: aarch64) also the rest of the suite: the HTTP and WebSocket
#                servers and clients and the coroutines, per backend, and test_odr
# -O3 because that is where GCC's vectoriser draws warnings the x86-64 -O2 build does not.
# Building is nearly all of the cost (the whole suite is about 340 CPU seconds per arch,
# hence the subsets): the arches build one after another with every core, and each arch's
# tests run under qemu while the next one builds. Prints each arch's doctest counts and
# wall and CPU times; exits non-zero on any warning, failed test case or wrong byte.
# Usage: bash tools/test-cross.sh   (CROSS_ARCHES="aarch64 armhf s390x"; LOOP_ARCHES and
#        FULL_ARCHES likewise, "" for none; LOOP_BACKENDS="epoll poll"; JOBS=N for ninja;
#        TEST_TIMEOUT=seconds per program, default 300; BUILD_ROOT=dir, default build,
#        for build/cross-<arch>)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

declare -A triple=([aarch64]=aarch64-linux-gnu [armhf]=arm-linux-gnueabihf [s390x]=s390x-linux-gnu)
declare -A debarch=([aarch64]=arm64 [armhf]=armhf [s390x]=s390x)
declare -A qemu=([aarch64]=qemu-aarch64 [armhf]=qemu-arm [s390x]=qemu-s390x)
read -r -a arches <<<"${CROSS_ARCHES:-aarch64 armhf s390x}"
loop_arches=${LOOP_ARCHES-aarch64 armhf s390x}
full_arches=${FULL_ARCHES-aarch64}
read -r -a loop_backends <<<"${LOOP_BACKENDS:-epoll poll}"
# What FULL_ARCHES run besides: the rest of the suite (the two odr TUs run no test case).
full_programs=(test_http_server test_ws_server test_coro test_odr)
on_list() { [[ " $1 " == *" $2 "* ]]; }
# tests/<dir>/*.cpp is the program test_<dir>. These run on every arch.
unit_dirs=(http ws proxy)

for a in "${arches[@]}"; do
  [ -n "${triple[$a]:-}" ] || { echo "test-cross: unknown arch '$a' (aarch64, armhf, s390x)"; exit 2; }
done

# What it needs, installed only when missing. qemu-user without its recommended
# qemu-user-binfmt: every program is started as qemu-<cpu> -L /usr/<triple> explicitly.
need=()
have() { command -v "$1" >/dev/null 2>&1; }
for a in "${arches[@]}"; do
  have "${triple[$a]}-g++" || need+=("g++-${triple[$a]}")
  [ -f "/usr/${triple[$a]}/include/stdio.h" ] || need+=("libc6-dev-${debarch[$a]}-cross")
  have "${qemu[$a]}" || need+=(qemu-user)
done
have cmake || need+=(cmake)
have ninja || need+=(ninja-build)
have python3 || need+=(python3)
[ -f /usr/include/doctest/doctest.h ] || need+=(doctest-dev)
if [ ${#need[@]} -gt 0 ]; then
  read -r -a need <<<"$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')"
  echo "test-cross: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt run on the machine instead of failing at its lock.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# "wire: ..." cases must sit where every arch runs them.
while IFS= read -r file; do
  dir=$(basename "$(dirname "$file")")
  if [[ " ${unit_dirs[*]} " != *" $dir "* ]]; then
    echo "test-cross: $file has \"wire: ...\" cases, but tests/$dir does not run on every arch"
    echo "            (add $dir to unit_dirs in tools/test-cross.sh)"
    exit 1
  fi
done < <(grep -rl 'TEST_CASE("wire:' tests --include='*.cpp' || true)

root=${BUILD_ROOT:-build}
jobs=${JOBS:-$(nproc)}
per_test=${TEST_TIMEOUT:-300}
warn="-Wall -Wextra -Wpedantic -Werror"

# CPU seconds (user + system) of the processes this shell has waited for, read from
# the output of the builtin `times`, which must run in that shell itself (`times >file`):
# in a pipe or $(...) it runs in a fresh fork, whose counts start at zero. Wall times on
# a shared machine say little without them.
cpu_seconds() {
  tail -1 "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } printf "%d", t }'
}

# Builds one arch's programs (ninja -j JOBS); output to $root/cross-<arch>.log, the result
# to $root/cross-<arch>.summary. Non-zero on any warning.
build_arch() {
  local a=$1 dir=$root/cross-$1 t0 t1
  local targets=(echo_server)
  for d in "${unit_dirs[@]}"; do targets+=("test_$d"); done
  ! on_list "$loop_arches" "$a" || targets+=(test_loop)
  ! on_list "$full_arches" "$a" || targets+=("${full_programs[@]}")
  t0=$(date +%s)
  echo "-- $a: $("${triple[$a]}-g++" --version | head -1)"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-linux-cross.cmake \
    -DSLUICE_CROSS_TRIPLE="${triple[$a]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="$warn" >/dev/null
  # -k 0: every translation unit that warns is reported, not only the first.
  if ! cmake --build "$dir" -j "$jobs" --target "${targets[@]}" -- -k 0 2>&1 | tee "$dir.build.log"; then
    echo "  build FAILED: $(grep -c '^FAILED:' "$dir.build.log") translation unit(s) (see $dir.build.log)" >>"$dir.summary"
    return 1
  fi
  # -Werror turns compiler warnings into errors; this catches the rest (the linker's).
  if grep -q 'warning:' "$dir.build.log"; then
    echo "  build FAILED: warnings (see $dir.build.log)" >>"$dir.summary"
    return 1
  fi
  t1=$(date +%s)
  times >"$dir.times"
  echo "  build                  ${#targets[@]} programs, $((t1 - t0)) s wall, $(cpu_seconds "$dir.times") s CPU" >>"$dir.summary"
}

# Runs one arch's programs under qemu, one after another; output to $root/cross-<arch>.log,
# a line per program to $root/cross-<arch>.summary. Non-zero when any failed.
test_arch() {
  local a=$1 dir=$root/cross-$1 t0 t1 status=0
  local emu=("${qemu[$a]}" -L "/usr/${triple[$a]}")
  t0=$(date +%s)
  echo "-- $a: $("${qemu[$a]}" --version | head -1)"
  run() { # run NAME [ENV=...] PROGRAM ARGS...: one doctest program under qemu
    local name=$1 line rc
    shift
    echo "-- $a: $name"
    set +e
    env "$@" >"$dir.$$.out" 2>&1
    rc=$?
    set -e
    cat "$dir.$$.out"
    line=$(grep '^\[doctest\] test cases:' "$dir.$$.out" | tail -1 | sed -E 's/^\[doctest\] //; s/ +/ /g' || true)
    [ -n "$line" ] || line="no doctest summary; last line: $(tail -1 "$dir.$$.out")"
    printf '  %-22s %s\n' "$name" "$line" >>"$dir.summary"
    [ "$rc" -eq 0 ] || { echo "  $name FAILED: exit $rc" >>"$dir.summary"; status=1; }
  }
  for d in "${unit_dirs[@]}"; do
    run "test_$d" timeout "$per_test" "${emu[@]}" "$dir/tests/test_$d"
  done
  # How many "wire: ..." cases those programs hold (doctest counts them without running).
  local wire=0 n
  for d in "${unit_dirs[@]}"; do
    n=$("${emu[@]}" "$dir/tests/test_$d" --count --test-case='wire:*' |
        sed -nE 's/.*passing the current filters: ([0-9]+).*/\1/p')
    wire=$((wire + ${n:-0}))
  done
  echo "  \"wire: ...\" cases      $wire, in the runs above" >>"$dir.summary"
  if on_list "$loop_arches" "$a"; then
    # Left out under emulation: the io_uring fallback case installs a seccomp filter,
    # which qemu-user refuses for its guest (prctl fails); it tests the kernel's policy,
    # not the architecture, and runs natively in steps 2 and 3.
    for b in "${loop_backends[@]}"; do
      run "test_loop $b" SLUICE_BACKEND="$b" timeout "$per_test" "${emu[@]}" "$dir/tests/test_loop" \
        --test-case-exclude='io_uring refused by a seccomp filter*'
    done
  fi
  if on_list "$full_arches" "$a"; then
    for p in "${full_programs[@]}"; do
      if [ "$p" = test_odr ]; then
        run "$p" timeout "$per_test" "${emu[@]}" "$dir/tests/$p"
        continue
      fi
      for b in "${loop_backends[@]}"; do
        run "$p $b" SLUICE_BACKEND="$b" timeout "$per_test" "${emu[@]}" "$dir/tests/$p"
      done
    done
  fi

  echo "-- $a: echo_server under qemu, native client"
  if timeout 300 python3 tests/echo_server/checksum_echo.py --backend epoll -- \
      "${emu[@]}" "$dir/examples/echo_server" >"$dir.$$.out" 2>&1; then
    echo "  echo_server epoll      $(tail -1 "$dir.$$.out" | sed 's/^ok *//')" >>"$dir.summary"
  else
    echo "  echo_server epoll      FAILED: $(grep FAIL "$dir.$$.out" | tail -1)" >>"$dir.summary"
    status=1
  fi
  cat "$dir.$$.out"
  rm -f "$dir.$$.out"
  t1=$(date +%s)
  times >"$dir.times"
  echo "  tests                  $((t1 - t0)) s wall, $(cpu_seconds "$dir.times") s CPU" >>"$dir.summary"
  return "$status"
}

# The builds take turns with all cores each; an arch's tests (mostly waiting on qemu and
# loopback) run in the background while the next arch builds.
mkdir -p "$root"
declare -A pid
failed=()
for a in "${arches[@]}"; do
  : >"$root/cross-$a.summary"
  echo "-- $a: building (log: $root/cross-$a.log)"
  if (build_arch "$a") >"$root/cross-$a.log" 2>&1; then
    (test_arch "$a") >>"$root/cross-$a.log" 2>&1 &
    pid[$a]=$!
  else
    failed+=("$a")
  fi
done
for a in "${!pid[@]}"; do
  wait "${pid[$a]}" || failed+=("$a")
done

echo "== cross-architecture summary (g++ 12 -O3 $warn; under qemu-user)"
for a in "${arches[@]}"; do
  echo "$a (${triple[$a]}):"
  cat "$root/cross-$a.summary"
done
for a in "${failed[@]}"; do
  echo "---- $a: last 60 lines of $root/cross-$a.log"
  tail -60 "$root/cross-$a.log"
done
times >"$root/cross.times"
echo "cross: ${#arches[@]} arches, ${#failed[@]} failed${failed[*]:+ (${failed[*]})}," \
     "$(( $(date +%s) - started )) s wall, $(cpu_seconds "$root/cross.times") s CPU on $(nproc) cores"
[ ${#failed[@]} -eq 0 ]
