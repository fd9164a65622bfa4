#!/usr/bin/env bash
# Runs every test sluice has, as CI does:
#   1. the committed single header matches include/
#   2. g++, include/ headers, -Werror: the whole suite (every backend, consumers)
#   3. clang++, the single header only, ASan+UBSan, -Werror: the whole suite again
#   3b. clang++, the single header only, ThreadSanitizer: every test that touches threads
#   4. Windows: mingw-w64 cross build, -Werror, the whole suite under wine (WSAPoll, select)
#   5. the parser fuzzers (HTTP, WebSocket, PROXY, deflate, the TLS adapter) for a bounded time each
#   6. every benchmark suite in smoke mode: every peer server answers, every byte checks
#   7. aarch64, armhf and s390x: cross-built -O3 -Werror, the core suites under qemu-user
#      (tools/test-cross.sh says which run where), and a checksummed echo run
# Usage: bash tools/test.sh            (FUZZ_SECONDS=N to change step 5's budget)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh

# Each step's wall time, printed as it ends and summed up at the end: CI has a 45-minute
# budget, and this is where to look when a run creeps towards it.
step_times="" step_name="0. dependencies" step_start=0
record() { # ends the current step's clock
  step_times="$step_times$(printf '  %-52s %4d s' "$step_name" $((SECONDS - step_start)))"$'\n'
}
step() { # "N. title": ends the previous step's clock, starts this one's
  record
  step_name=$1; step_start=$SECONDS
  echo "== $1"
}

step "1. single header in sync"
python3 tools/amalgamate.py --check

warn="-Wall -Wextra -Wpedantic -Werror"
jobs=$(nproc)

step "2. g++ -O2, multiple headers"
# -O2, not CMake's Release -O3: a sixth less build time; the cross step builds at -O3.
cmake -S . -B build/gcc -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_CXX_FLAGS="$warn" -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DSLUICE_WITH_OPENSSL=ON -DSLUICE_WITH_MBEDTLS=ON >/dev/null
cmake --build build/gcc -j "$jobs"
(cd build/gcc && ctest -j "$jobs" --output-on-failure)

step "3. clang++ ASan+UBSan, single header"
# -fno-sanitize=function: clang 14 cannot emit that one check for coroutine
# frames ("Cannot represent a difference across sections"); the rest of UBSan stays.
# -O0: clang's -O1 made this build three times slower (about 650 s of CI's 45 minutes) for
# tests that mostly wait on sockets; test_coro alone keeps -O1 (tests/CMakeLists.txt says why).
san="-fsanitize=address,undefined -fno-sanitize=function -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B build/clang-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DSLUICE_MULTIPLE_HEADERS=OFF -DSLUICE_WITH_OPENSSL=ON -DCMAKE_CXX_FLAGS="$warn -O0 $san" \
  -DCMAKE_EXE_LINKER_FLAGS="$san" >/dev/null
cmake --build build/clang-asan -j "$jobs"
(cd build/clang-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest -j "$jobs" --output-on-failure \
    -E '^consumer\.|^balancer\.|^chat\.|^docs\.|^rest_api\.|^separate_compilation\.')
# Left to the g++ step: balancer.real_backends, chat.rooms_backpressure and rest_api.real_clients
# (1 GiB each way: ASan's quarantine alone grew the server by 300 MB) assert RSS bounds that ASan's
# quarantine and shadow memory break by design (its library paths run here in
# test_loop), and docs.snippets_run would only rebuild the guides' 37 programs
# without sanitizers.
# separate_compilation builds with g++ and clang++ of its own (no sanitizer): the same run
# as the g++ step's, so once is enough (about 100 s).

step "3b. clang++ ThreadSanitizer, single header: the tests that touch threads"
# Two binaries only, filtered by doctest source files and test-case names: posting
# across threads and keep_alive (test_post, test_loop_safety), loop_group (test_group),
# shutdown with a peer thread and ~loop during offload (test_lifetime), the thread pool
# through name resolution, cancelled and abandoned lookups (test_exactly_once), signals
# (test_post, test_loop_safety), and spawn from another thread, offload, hop and whole
# chains moving between loops (coro chain), cancelled lookups (coro stop) in the
# coroutine layer. test_coro_alloc is left out: it
# replaces the global operator new, which TSan's runtime defines too.
tsan="-fsanitize=thread"
cmake -S . -B build/clang-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DSLUICE_MULTIPLE_HEADERS=OFF -DSLUICE_BUILD_EXAMPLES=OFF -DSLUICE_TEST_EXCLUDE=test_coro_alloc \
  -DCMAKE_CXX_FLAGS="$warn -O1 -g $tsan" -DCMAKE_EXE_LINKER_FLAGS="$tsan" >/dev/null
cmake --build build/clang-tsan -j "$jobs" --target test_loop test_coro
# io_uring too where CMake's probe found it working (it printed why not otherwise).
tsan_backends="epoll poll select"
grep -q 'test_loop\.io_uring' build/clang-tsan/tests/CTestTestfile.cmake && tsan_backends="$tsan_backends io_uring"
for b in $tsan_backends; do
  echo "-- TSan, SLUICE_BACKEND=$b"
  # halt_on_error: the first race fails the step; exitcode makes a report fail it even
  # when the test's own assertions pass.
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
  SLUICE_BACKEND=$b build/clang-tsan/tests/test_loop \
    -sf="*test_post.cpp,*test_group.cpp,*test_lifetime.cpp,*test_loop_safety.cpp,*test_exactly_once.cpp"
  SLUICE_BACKEND=$b build/clang-tsan/tests/test_loop -tc="connect by name*"
  SLUICE_BACKEND=$b build/clang-tsan/tests/test_coro \
    -tc="coro: spawn*,coro: offload*,coro: hop*,coro io: connect by host name*,coro chain*,coro stop*"
done
unset TSAN_OPTIONS

step "4. Windows: mingw-w64 cross build, the suite under wine"
bash tools/test-windows.sh

step "5. fuzzers"
# 15 s each: five targets now (TLS joined), and CI's 45 minutes are nearly spent; longer
# runs are FUZZ_SECONDS=N away, and every run starts from the committed corpus.
secs=${FUZZ_SECONDS:-15}
mkdir -p build/fuzz
for target in http_parser ws_frame proxy_protocol ws_deflate tls_engine; do
  corpus=${target%%_*}
  libs=""
  [ "$target" = ws_deflate ] && libs="-lz" # permessage-deflate is the one part on zlib
  [ "$target" = tls_engine ] && libs="-lssl -lcrypto" # the opt-in OpenSSL adapter
  # shellcheck disable=SC2086 # $libs is empty or one flag
  clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude "fuzz/$target.cpp" -o "build/fuzz/$target" $libs
  rm -rf "build/fuzz/$target.corpus" && cp -r "fuzz/corpus/$corpus" "build/fuzz/$target.corpus"
  # A crash must fail the run: keep the fuzzer's own exit status, show the log on failure.
  if ! "build/fuzz/$target" -max_total_time="$secs" -print_final_stats=1 "build/fuzz/$target.corpus" \
      >"build/fuzz/$target.log" 2>&1; then
    tail -40 "build/fuzz/$target.log"
    echo "fuzz $target: FAILED"
    exit 1
  fi
  runs=$(grep -o 'number_of_executed_units: [0-9]*' "build/fuzz/$target.log" | grep -o '[0-9]*$')
  echo "fuzz $target: ${secs}s, ${runs} inputs, no crash"
done
step "6. benchmark smoke run (every suite; every server answers, every byte checks)"
bash bench/run.sh --smoke
step "7. cross-architecture: aarch64, armhf, s390x under qemu-user"
# FULL_ARCHES empty: every arch runs the loop, parser, WebSocket and PROXY suites and the
# echo check; the server suites on aarch64 as well (about 170 s more: the little-endian
# 64-bit arch the x86-64 runs already resemble most) are `FULL_ARCHES=aarch64 bash
# tools/test-cross.sh`, left out of CI for its 45 minutes.
FULL_ARCHES="" bash tools/test-cross.sh
record
printf 'step times:\n%s  %-52s %4d s\n' "$step_times" total $SECONDS
echo "all tests passed"
