#!/usr/bin/env bash
# WebSocket echo, side by side: sluice (examples/ws_echo.cpp) and Boost.Beast
# (bench/ws/beast_echo.cpp, Debian's libboost-dev), built -O2, one thread each. Each server
# is pinned to core 0 and the load generator (bench/ws/ws_load, not built on sluice's loop)
# to core 1; every connection does the Upgrade handshake, every client frame is masked, and
# every echoed byte is verified.
#
#
# Then fan-out: bench/ws/sluice_fanout.cpp (ws::server topics, server.publish) and
# bench/ws/beast_fanout.cpp (Beast, hand-rolled broadcast over per-session write queues), the
# same protocol, driven by bench/ws/ws_fanout_load: SUBSCRIBERS (10,000) connections to /sub,
# one publisher to /pub, at most 4 messages in flight, each done when every subscriber has it;
# every subscriber must get every message in order, byte for byte, or the run fails. The
# server's CPU time (/proc/PID/stat utime + stime, read by the generator from the first
# publish to the last delivery) is reported per delivered message, as bench/echo does.
#
# Then echo with permessage-deflate (RFC 7692): the same two echo servers with --deflate on
# (sluice's ws_echo built with SLUICE_WITH_ZLIB, zlib from Debian's zlib1g-dev), driven by
# ws_load --deflate: text-like messages, compressed by the client, no context takeover either
# way; the run fails unless the server accepts the offer, and every echo is inflated and checked.
#
#   bash bench/ws/run.sh            full run: ROUNDS=3 x 5 s per cell (median), writes docs/bench/ws.md
#   bash bench/ws/run.sh --smoke    CI: 1 s per cell, 1 round, 200 subscribers, one deflate cell;
#                                   fails unless every server answers and every byte verifies;
#                                   writes nothing to docs/
#   ONLY=deflate bash bench/ws/run.sh   only some of the tables (comma-separated: echo, fanout,
#                                   deflate), printed; writes nothing to docs/
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0; secs=${SECONDS_PER_CELL:-5}
case "${1:-}" in
  "") ;;
  --smoke) smoke=1; secs=1 ;;
  *) echo "usage: bash bench/ws/run.sh [--smoke]" >&2; exit 2 ;;
esac
only=${ONLY:-}
case ",$only," in
  ,, | *,echo,* | *,fanout,* | *,deflate,*) ;;
  *) echo "ONLY: a comma-separated list of echo, fanout, deflate" >&2; exit 2 ;;
esac
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

if [ ! -f /usr/include/boost/beast.hpp ] || [ ! -f /usr/include/zlib.h ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq libboost-dev zlib1g-dev >/dev/null
fi

out=build/bench
mkdir -p "$out"
cxx="g++ -O2 -DNDEBUG"
# With zlib for --deflate on; without that flag no extension is negotiated, as before.
$cxx -std=c++17 -pthread -DSLUICE_WITH_ZLIB=1 -Iinclude examples/ws_echo.cpp -o "$out/sluice_ws_echo" -lz
$cxx -std=c++17 -Iinclude bench/ws/ws_load.cpp -o "$out/ws_load" -lz
$cxx -std=c++17 -pthread bench/ws/beast_echo.cpp -o "$out/beast_echo"
[ $smoke = 1 ] || $cxx -std=c++17 -Iinclude bench/ws_mask_bench.cpp -o "$out/ws_mask_bench"
if want fanout; then
  $cxx -std=c++17 -pthread -Iinclude bench/ws/sluice_fanout.cpp -o "$out/sluice_fanout"
  $cxx -std=c++17 -pthread bench/ws/beast_fanout.cpp -o "$out/beast_fanout"
  $cxx -std=c++17 -Iinclude bench/ws/ws_fanout_load.cpp -o "$out/ws_fanout_load"
fi

servers=(sluice_ws_echo beast_echo)
workloads=("64 1" "64 100" "16384 1" "16384 100")
[ $smoke = 1 ] && workloads=("64 1" "16384 100") # CI: one small, one large cell
deflate_workloads=("1024 1" "1024 100" "16384 1" "16384 100")
[ $smoke = 1 ] && deflate_workloads=("16384 100")
pin_server=""; pin_load=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_load="taskset -c 1"; fi

# Servers run one at a time, on the first port from 7400 up that nothing listens on, and are
# stopped by their own PID (taskset execs the server, so $! is the server), also on failure.
port=7399
pid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
trap stop EXIT
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() { # server [its options]
  port=$((port + 1))
  while listening $port; do port=$((port + 1)); done
  $pin_server "$out/$1" --port $port "${@:2}" >"$out/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    # Alive is checked around the probe: a server that lost the port to someone else must
    # not be measured through the other listener.
    kill -0 $pid 2>/dev/null || break
    if listening $port && kill -0 $pid 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "FAIL: $1 did not start on port $port"; cat "$out/$1.log"; exit 1
}

# Warm-up, discarded: whichever server is measured first otherwise gets a visibly better core
# (seen in bench/echo).
if [ $smoke = 0 ]; then
  start beast_echo
  $pin_load "$out/ws_load" --port $port --size 64 --connections 1 --seconds 3 >/dev/null || true
  stop
fi

# Several rounds, the server order rotated each round; each cell reports the median of its
# rounds (bench/echo saw up to 35% between identical passes on a 2-vCPU machine).
rounds=${ROUNDS:-3}
[ $smoke = 1 ] && rounds=1
declare -A rate mbps samples msamples
if want echo; then
  for round in $(seq "$rounds"); do
    for k in "${!servers[@]}"; do
      i=$(( (k + round - 1) % ${#servers[@]} ))
      s=${servers[$i]}
      start "$s"
      for w in "${workloads[@]}"; do
        set -- $w
        line=$($pin_load "$out/ws_load" --port $port --size "$1" --connections "$2" --seconds "$secs" 2>&1) || {
          echo "FAIL: $s size $1 connections $2: ${line:-no output}"; cat "$out/$s.log"; exit 1; }
        samples[$s,$1,$2]="${samples[$s,$1,$2]:-} $(echo "$line" | awk '{print $2}')"
        msamples[$s,$1,$2]="${msamples[$s,$1,$2]:-} $(echo "$line" | awk '{print $4}')"
        printf 'round %d %-15s :%d %6s B x %3s conn: %s\n' "$round" "$s" $port "$1" "$2" "$line"
      done
      kill -0 $pid 2>/dev/null || { echo "FAIL: $s exited during the run"; cat "$out/$s.log"; exit 1; }
      stop
    done
  done
fi
median() { echo $1 | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for key in "${!samples[@]}"; do
  rate[$key]=$(median "${samples[$key]}")
  mbps[$key]=$(median "${msamples[$key]}")
done

# ---- echo with permessage-deflate ----
# The same servers with --deflate on; ws_load --deflate fails unless the 101 accepts its
# offer and every echo comes back compressed and inflates to the bytes sent. The compressed
# size of the echoes (% of the payload) is kept to show both servers compress alike.
declare -A drate dmbps dwire dsamples dmsamples dwsamples
if want deflate; then
  for round in $(seq "$rounds"); do
    for k in "${!servers[@]}"; do
      i=$(( (k + round - 1) % ${#servers[@]} ))
      s=${servers[$i]}
      start "$s" --deflate on
      for w in "${deflate_workloads[@]}"; do
        set -- $w
        line=$($pin_load "$out/ws_load" --port $port --size "$1" --connections "$2" --seconds "$secs" --deflate 2>&1) || {
          echo "FAIL: $s deflate, size $1 connections $2: ${line:-no output}"; cat "$out/$s.log"; exit 1; }
        dsamples[$s,$1,$2]="${dsamples[$s,$1,$2]:-} $(echo "$line" | awk '{print $2}')"
        dmsamples[$s,$1,$2]="${dmsamples[$s,$1,$2]:-} $(echo "$line" | awk '{print $4}')"
        dwsamples[$s,$1,$2]="${dwsamples[$s,$1,$2]:-} $(echo "$line" | awk '{for (i = 1; i < NF; i++) if ($i == "echoed%") print $(i + 1)}')"
        printf 'round %d %-15s :%d %6s B x %3s conn, deflate: %s\n' "$round" "$s" $port "$1" "$2" "$line"
      done
      kill -0 $pid 2>/dev/null || { echo "FAIL: $s exited during the run"; cat "$out/$s.log"; exit 1; }
      stop
    done
  done
fi
for key in "${!dsamples[@]}"; do
  drate[$key]=$(median "${dsamples[$key]}")
  dmbps[$key]=$(median "${dmsamples[$key]}")
  dwire[$key]=$(median "${dwsamples[$key]}")
done

# ---- fan-out: publish to N subscribers ----
fan_servers=(sluice_fanout beast_fanout)
fan_sizes=(64 1024)
subs=${SUBSCRIBERS:-10000}
[ $smoke = 1 ] && subs=200
window=4
declare -A fpub fdel fcpu fpub_s fdel_s fcpu_s
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }
if want fanout; then
  # N subscribers plus the publisher, the listener and a few more, in the generator and in the
  # server (both raise their soft limit to the hard one themselves as well).
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((subs + 100)) ] || {
    echo "FAIL: $subs subscribers need $((subs + 100)) descriptors, the hard limit is $(ulimit -Hn)"; exit 1; }
  for round in $(seq "$rounds"); do
    for k in "${!fan_servers[@]}"; do
      i=$(( (k + round - 1) % ${#fan_servers[@]} ))
      s=${fan_servers[$i]}
      start "$s"
      for size in "${fan_sizes[@]}"; do
        line=$($pin_load "$out/ws_fanout_load" --port $port --subscribers "$subs" --size "$size" \
          --window $window --seconds "$secs" --server-pid $pid 2>&1) || {
          echo "FAIL: $s fan-out, $size B to $subs subscribers: ${line:-no output}"; cat "$out/$s.log"; exit 1; }
        fpub_s[$s,$size]="${fpub_s[$s,$size]:-} $(echo "$line" | field publishes/s)"
        fdel_s[$s,$size]="${fdel_s[$s,$size]:-} $(echo "$line" | field deliveries/s)"
        fcpu_s[$s,$size]="${fcpu_s[$s,$size]:-} $(echo "$line" | field server_us/delivery)"
        printf 'round %d %-15s :%d %6s B to %s subscribers: %s\n' "$round" "$s" $port "$size" "$subs" "$line"
      done
      kill -0 $pid 2>/dev/null || { echo "FAIL: $s exited during the run"; cat "$out/$s.log"; exit 1; }
      # Neither server writes anything while it works; sluice_fanout reports a publish that
      # reached fewer subscribers than the topic has (someone cut at the send limit).
      [ -s "$out/$s.log" ] && { echo "FAIL: $s complained:"; cat "$out/$s.log"; exit 1; }
      stop
    done
  done
fi
for key in "${!fpub_s[@]}"; do
  fpub[$key]=$(median "${fpub_s[$key]}")
  fdel[$key]=$(median "${fdel_s[$key]}")
  fcpu[$key]=$(median "${fcpu_s[$key]}")
done
[ $smoke = 1 ] && { echo "ws smoke: every server answered the handshake, every byte checked (echo, echo with permessage-deflate, fan-out to $subs)"; exit 0; }
# Some of the tables only: printed above, the document needs them all.
[ -n "$only" ] && { echo "ONLY=$only: nothing written to docs/bench/ws.md"; exit 0; }

sluice_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain -- include examples/ws_echo.cpp bench/ws/sluice_fanout.cpp 2>/dev/null)" ] && sluice_rev="$sluice_rev + uncommitted changes"
boost=$(awk '/define BOOST_LIB_VERSION/ {gsub(/"/, "", $3); gsub(/_/, ".", $3); print $3}' /usr/include/boost/version.hpp)
mkdir -p docs/bench
md=docs/bench/ws.md
{
  echo "# WebSocket echo and fan-out: sluice against Boost.Beast"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(uname -srm), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs));"
  echo "g++ $(g++ -dumpfullversion), Boost $boost (Debian), sluice $sluice_rev."
  echo "Median of ${rounds} rounds of ${secs} s per cell (server order rotated each round); server on"
  echo "core 0, load generator on core 1; one binary message in flight per connection, client frames"
  echo "masked with a fresh key each, every echoed byte verified. Both servers: one thread, no"
  echo "compression, 16 MiB message limit, one frame per message (Beast's auto_fragment is off; on,"
  echo "it sends a 16 KiB message as four 4 KiB frames). Regenerate: \`bash bench/ws/run.sh\`."
  echo
  echo "| workload | sluice msg/s | sluice MB/s | Beast msg/s | Beast MB/s | sluice / Beast |"
  echo "|---|---:|---:|---:|---:|---:|"
  for w in "${workloads[@]}"; do
    set -- $w
    a=${rate[sluice_ws_echo,$1,$2]}; b=${rate[beast_echo,$1,$2]}
    label="$1 B"; [ "$1" -ge 1024 ] && label="$(($1 / 1024)) KiB"
    echo "| $label x $2 | $a | ${mbps[sluice_ws_echo,$1,$2]} | $b | ${mbps[beast_echo,$1,$2]} | $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}') |"
  done
  echo
  echo "Above 1.0: sluice is faster. MB/s counts echoed payload, one direction."
  echo
  echo "## Publish to N subscribers"
  echo
  echo "Fan-out: $subs subscriber connections to one topic and one publisher, median of ${rounds} rounds"
  echo "of ${secs} s per cell (same pinning and rotation). sluice is \`bench/ws/sluice_fanout.cpp\`:"
  echo "each /sub connection subscribes to the topic, every message from /pub goes out through"
  echo "\`server.publish(topic, opcode, data, n)\`, encoded once and queued by reference on every"
  echo "subscriber; default send limit (1 MiB per connection, close on overflow). Beast is"
  echo "\`bench/ws/beast_fanout.cpp\`: the hand-rolled broadcast of Beast's chat examples, one"
  echo "\`std::shared_ptr<std::string const>\` per message queued on each session's own write queue,"
  echo "one \`async_write\` at a time per session. The generator (\`bench/ws/ws_fanout_load\`, raw epoll)"
  echo "keeps at most $window binary messages in flight, a message being done when all $subs subscribers"
  echo "have it; every subscriber must receive every message in order and byte for byte (sequence"
  echo "number in the payload), and nobody may be cut, or the run fails."
  echo
  echo "| message | sluice publishes/s | sluice deliveries/s | sluice server µs/delivery | Beast publishes/s | Beast deliveries/s | Beast server µs/delivery | deliveries sluice / Beast | CPU Beast / sluice |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for size in "${fan_sizes[@]}"; do
    a=${fdel[sluice_fanout,$size]}; b=${fdel[beast_fanout,$size]}
    ca=${fcpu[sluice_fanout,$size]}; cb=${fcpu[beast_fanout,$size]}
    label="$size B"; [ "$size" -ge 1024 ] && label="$((size / 1024)) KiB"
    echo "| $label | ${fpub[sluice_fanout,$size]} | $a | $ca | ${fpub[beast_fanout,$size]} | $b | $cb | $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}') | $(awk -v a="$ca" -v b="$cb" 'BEGIN{printf "%.2f", b/a}') |"
  done
  echo
  echo "A delivery is one message arriving at one subscriber (deliveries/s = publishes/s x $subs)."
  echo "Server µs/delivery is the server process's CPU time (user + system, /proc/PID/stat) from the"
  echo "first publish to the last delivery, divided by the deliveries: it includes the kernel's"
  echo "loopback send path, and it stays comparable when the single-threaded generator on the other"
  echo "core is what limits the rate. Above 1.0 in the last two columns: sluice is ahead."
  echo
  echo "## Echo with permessage-deflate"
  echo
  echo "The echo servers above with \`--deflate on\` (sluice's \`examples/ws_echo.cpp\` built with"
  echo "\`SLUICE_WITH_ZLIB\`, Debian's zlib $(awk '/define ZLIB_VERSION/ {gsub(/"/, "", $3); print $3}' /usr/include/zlib.h);"
  echo "Beast's own port of zlib), driven by \`ws_load --deflate\`; median of ${rounds} rounds of ${secs} s"
  echo "per cell, same pinning and rotation, one message in flight per connection. The client"
  echo "offers \`permessage-deflate; client_no_context_takeover; server_no_context_takeover\` and both"
  echo "servers answer \`permessage-deflate; server_no_context_takeover; client_no_context_takeover\`"
  echo "(the run fails if a server declines): every message is compressed on its own, with no"
  echo "history carried over from the one before. Both servers compress with raw DEFLATE at level 6, window 15"
  echo "(2^15 bytes), memLevel 8: sluice's \`ws::deflate_settings\` defaults, set explicitly on Beast"
  echo "(\`permessage_deflate::compLevel = 6, memLevel = 8\`; its own defaults are 8 and 4). Beast sends a"
  echo "compressed message in frames of its write buffer whatever \`auto_fragment\` says; the buffer"
  echo "is raised to 64 KiB so a message is one frame, as it is from sluice. Messages are binary,"
  echo "text-like (words drawn from a fixed-seed vocabulary, the same bytes for both servers); the"
  echo "client compresses each with zlib at the same settings (once, up front, so its core inflates"
  echo "and checks rather than deflates), sends it masked with RSV1, and inflates every echo, which"
  echo "must come back compressed, and compares it byte for byte."
  echo
  echo "| workload | sluice msg/s | sluice MB/s | Beast msg/s | Beast MB/s | sluice / Beast | echo on the wire, sluice / Beast |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for w in "${deflate_workloads[@]}"; do
    set -- $w
    a=${drate[sluice_ws_echo,$1,$2]}; b=${drate[beast_echo,$1,$2]}
    label="$1 B"; [ "$1" -ge 1024 ] && label="$(($1 / 1024)) KiB"
    echo "| $label x $2 | $a | ${dmbps[sluice_ws_echo,$1,$2]} | $b | ${dmbps[beast_echo,$1,$2]} | $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}') | ${dwire[sluice_ws_echo,$1,$2]}% / ${dwire[beast_echo,$1,$2]}% |"
  done
  echo
  echo "MB/s counts the echoed payload uncompressed, one direction; \"on the wire\" is the compressed"
  echo "echo's size in % of the payload. Above 1.0: sluice is faster."
  echo
  echo "## Unmasking"
  echo
  echo "\`bench/ws_mask_bench.cpp\` (-O2), best of 5 rounds, on core 1:"
  echo
  $pin_load "$out/ws_mask_bench"
} > "$md"
cat "$md"
