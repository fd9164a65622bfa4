#!/usr/bin/env bash
# Static files: GET of one 1 MiB file over keep-alive, sluice (examples/static_server.cpp,
# http::static_files, --backend epoll) against Debian's nginx (one worker, sendfile on,
# access log off), serving the same file from the same directory. Each server runs one
# thread pinned to core 0, wrk (one thread) on core 1, over loopback.
#
# Before and after its cells, each server is checked: curl's bytes of the whole file and of
# a range must have the file's sha256, a HEAD must announce the size and send no body, and
# a wrk run with socket errors or non-2xx responses fails. The server's CPU time (user +
# system from /proc; nginx: master and worker) per request is reported beside each rate.
#
#   bash bench/static/run.sh            full: ROUNDS=3 x SECONDS_PER_CELL=5 (median), order
#                                       rotated each round; writes docs/bench/static.md
#   bash bench/static/run.sh --smoke    CI: 1 round of 1 s cells; exits 1 on any failure
# Both write build/bench/static.tsv: workload<TAB>server<TAB>value<TAB>unit<TAB>better.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0; secs=${SECONDS_PER_CELL:-5}; rounds=${ROUNDS:-3}
case "${1:-}" in
  "") ;;
  --smoke) smoke=1; secs=1; rounds=1 ;;
  *) echo "usage: bash bench/static/run.sh [--smoke]" >&2; exit 2 ;;
esac

source bench/lib.sh
bench_install nginx:nginx wrk:wrk curl:curl
nginx=$(command -v nginx || echo /usr/sbin/nginx)

out=build/bench
mkdir -p "$out"
g++ -O2 -DNDEBUG -std=c++17 -pthread -Iinclude examples/static_server.cpp -o "$out/sluice_static_server"

work=$(mktemp -d /tmp/sluice-static-bench.XXXXXX)
pid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
trap 'stop; rm -rf "$work"' EXIT
mkdir -p "$work/root"
head -c $((1024 * 1024)) /dev/urandom >"$work/root/file.bin"
want=$(sha256sum <"$work/root/file.bin" | cut -d' ' -f1)
want_range=$(dd if="$work/root/file.bin" bs=100000 iflag=skip_bytes skip=1000 count=1 status=none | sha256sum | cut -d" " -f1)

servers=(sluice nginx)
conns=32
workload="static 1 MiB keep-alive"
pin_server=""; pin_wrk=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_wrk="taskset -c 1"; fi

nginx_conf() { # PORT
  cat <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    client_body_temp_path $work;
    proxy_temp_path $work;
    fastcgi_temp_path $work;
    uwsgi_temp_path $work;
    scgi_temp_path $work;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$1 reuseport;
        root $work/root;
    }
}
CONF
}

port=21999
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() {
  port=$((port + 1))
  while listening $port; do port=$((port + 1)); done
  [ $port -le 22999 ] || { echo "FAIL: no free port in 22000-22999"; exit 1; }
  log="$out/static_$1.log"
  if [ "$1" = nginx ]; then
    nginx_conf $port >"$work/nginx.conf"
    $pin_server "$nginx" -p "$work" -e "$work/nginx.error.log" -c "$work/nginx.conf" >"$log" 2>&1 &
  else
    $pin_server "$out/sluice_static_server" --backend epoll --port $port --root "$work/root" >"$log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do
    kill -0 $pid 2>/dev/null || break
    if listening $port && kill -0 $pid 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "FAIL: $1 did not start on port $port"; cat "$log"; exit 1
}

check() { # server when
  local url="http://127.0.0.1:$port/file.bin" got
  got=$(curl -sf --max-time 10 "$url" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "FAIL: $1 ($2): the file's bytes differ"; exit 1; }
  got=$(curl -sf --max-time 10 -r 1000-100999 "$url" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want_range" ] || { echo "FAIL: $1 ($2): the range's bytes differ"; exit 1; }
  got=$(curl -sfI --max-time 10 "$url" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')
  [ "$got" = $((1024 * 1024)) ] || { echo "FAIL: $1 ($2): HEAD announced '$got'"; exit 1; }
}

tck=$(getconf CLK_TCK)
cpu_ticks() {
  local p t=0
  for p in "$1" $(pgrep -P "$1" || true); do
    # A child may be gone between pgrep and the read: it counts nothing then.
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13} END {if (!NR) print 0}')))
  done
  echo $t
}

measure() { # server -> req/s on stdout
  $pin_wrk wrk -t1 "-c$conns" "-d${secs}s" "http://127.0.0.1:$port/file.bin" >"$work/wrk.out" 2>&1 || {
    echo "FAIL: wrk on $1:" >&2; cat "$work/wrk.out" >&2; return 1; }
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
    echo "FAIL: $1: wrk saw errors:" >&2; cat "$work/wrk.out" >&2; return 1
  fi
  local r
  r=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.out")
  [ "${r:-0}" -gt 0 ] || { echo "FAIL: $1: no requests/s in:" >&2; cat "$work/wrk.out" >&2; return 1; }
  echo "$r"
}

declare -A samples cpu_samples rate cpu
for round in $(seq "$rounds"); do
  for k in "${!servers[@]}"; do
    s=${servers[$(( (k + round - 1) % ${#servers[@]} ))]}
    start "$s"
    check "$s" "before measuring"
    t0=$(cpu_ticks $pid)
    r=$(measure "$s") || exit 1
    t1=$(cpu_ticks $pid)
    samples[$s]="${samples[$s]:-} $r"
    cpu_samples[$s]="${cpu_samples[$s]:-} $(awk -v t=$((t1 - t0)) -v hz="$tck" \
      '/requests in/ {printf "%.1f", ($1 > 0 ? t * 1e6 / hz / $1 : 0)}' "$work/wrk.out")"
    printf 'round %d %-7s :%d %9s req/s\n' "$round" "$s" $port "$r"
    check "$s" "after measuring"
    stop
  done
done
for s in "${servers[@]}"; do
  rate[$s]=$(bench_median "${samples[$s]}")
  cpu[$s]=$(bench_median "${cpu_samples[$s]}")
done

tsv=$out/static.tsv
{
  for s in "${servers[@]}"; do printf '%s\t%s\t%s\treq/s\thigher\n' "$workload" "$s" "${rate[$s]}"; done
  for s in "${servers[@]}"; do printf '%s, server CPU\t%s\t%s\tus/req\tlower\n' "$workload" "$s" "${cpu[$s]}"; done
} >"$tsv"
[ $smoke = 1 ] && { echo "static smoke: both servers served the right bytes (whole, range, HEAD) and wrk saw no errors; wrote $tsv"; exit 0; }

sluice_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain -- include examples/static_server.cpp 2>/dev/null)" ] && sluice_rev="$sluice_rev + uncommitted changes"
ratio=$(awk -v a="${rate[sluice]}" -v b="${rate[nginx]}" 'BEGIN{printf "%.2f", a/b}')
cpu_ratio=$(awk -v a="${cpu[sluice]}" -v b="${cpu[nginx]}" 'BEGIN{printf "%.2f", (b > 0 ? a/b : 0)}')
mkdir -p docs/bench
{
  echo "# Static files: sluice against nginx"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++ $(g++ -dumpfullversion), $("$nginx" -v 2>&1 | sed 's|.*: ||'), $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'), sluice $sluice_rev."
  echo "Median of ${rounds} round(s) of ${secs} s (server order rotated each round); each server is one"
  echo "thread on core 0, wrk one thread on core 1, over loopback, $conns keep-alive connections, each"
  echo "request a GET of the same 1 MiB file (random bytes). Regenerate: \`bash bench/static/run.sh\`."
  echo
  echo "- **sluice**: \`examples/static_server.cpp\` (\`http::static_files\` behind \`http::router\`),"
  echo "  \`--backend epoll\`. The body goes with sendfile(2) while nothing is queued ahead of it; when"
  echo "  the socket is full one 64 KiB chunk is read and queued, and sendfile resumes once it is out."
  echo "- **nginx**: Debian's, \`worker_processes 1\`, \`sendfile on\`, \`tcp_nopush on\`, access log off."
  echo
  echo "The machine is shared with other work: rates move by tens of percent between runs; the"
  echo "CPU per request moves less. nginx has no open_file_cache here (it opens and stats the file"
  echo "per request, as static_files does)."
  echo
  echo "Both were checked before and after their cells (curl: the whole file's and a range's sha256,"
  echo "HEAD's Content-Length), and no wrk run saw a socket error or a non-2xx response."
  echo
  echo "| server | requests/s | server CPU per request (µs) |"
  echo "|---|---:|---:|"
  for s in "${servers[@]}"; do echo "| $s | ${rate[$s]} | ${cpu[$s]} |"; done
  echo
  echo "sluice / nginx: **$ratio** x the rate, **$cpu_ratio** x the CPU per request."
} >docs/bench/static.md
cat docs/bench/static.md
