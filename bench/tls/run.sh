#!/usr/bin/env bash
# HTTPS: sluice (examples/http_hello.cpp --tls-cert/--tls-key, built with SLUICE_WITH_OPENSSL,
# --backend epoll) against Debian's nginx (one worker), both on the system's OpenSSL 3, the
# same ECDSA P-256 certificate and key (made here by openssl), and the same pinned
# parameters: TLS 1.3 only, TLS_AES_128_GCM_SHA256, X25519 key exchange, no session
# tickets (so no resumption). sluice takes the pins from an OpenSSL configuration file
# (OPENSSL_CONF, system_default section), nginx from its own directives; the check below
# proves what each negotiates. Each server runs one thread pinned to core 0, the clients
# run on core 1, over loopback.
#
# Workloads:
#   tls keep-alive       wrk (one thread) with 256 connections, one GET /plaintext in flight
#                        on each; "Hello, World!" as in bench/http
#   tls new handshakes   wrk with 32 connections and "Connection: close": every request
#                        on a new TCP connection with a full handshake. wrk would resume
#                        (it keeps the session across its reconnects, SSL_clear), so the
#                        servers issue no tickets (NumTickets 0), and the check proves no
#                        client resumes. The kernel's count of accepted connections
#                        (PassiveOpens, /proc/net/snmp) must be at least wrk's requests.
#   tls idle RSS         bench/tls/tls_client.py opens K connections (handshake and one
#                        verified GET each) and holds them; the server's VmRSS growth from
#                        "started and checked" to "K idle", over K (nginx: its worker).
# Beside each rate, the server's CPU time (user + system from /proc; nginx: master and
# worker) per request or handshake.
#
# Before and after its cells each server is checked: curl's GET, tls_client.py check
# (version, cipher, no resumption, keep-alive, 16 pipelined, Connection: close), and
# openssl s_client's key exchange (X25519) and signature (ECDSA). A wrk run with socket
# errors or non-2xx responses fails, and so does a lost idle connection.
#
#   bash bench/tls/run.sh            full: ROUNDS=3 x SECONDS_PER_CELL=5 (median), order
#                                    rotated each round, CONNECTIONS=1000 idle; writes
#                                    docs/bench/tls.md
#   bash bench/tls/run.sh --smoke    CI: 1 round of 1 s cells, 50 idle; exits 1 on any failure
# Both write build/bench/tls.tsv: workload<TAB>server<TAB>value<TAB>unit<TAB>better.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0; secs=${SECONDS_PER_CELL:-5}; rounds=${ROUNDS:-3}; idle_n=${CONNECTIONS:-1000}; settle=1
case "${1:-}" in
  "") ;;
  --smoke) smoke=1; secs=1; rounds=1; idle_n=50; settle=0.3 ;;
  *) echo "usage: bash bench/tls/run.sh [--smoke]" >&2; exit 2 ;;
esac

source bench/lib.sh
bench_install nginx:nginx wrk:wrk curl:curl openssl:openssl libssl-dev
nginx=$(command -v nginx || echo /usr/sbin/nginx)
py=/usr/bin/python3

# The idle client holds idle_n sockets, each server as many plus a few.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((idle_n + 64)) ]; then
  echo "FAIL: descriptor hard limit $hard is too low for $idle_n connections; set CONNECTIONS lower" >&2
  exit 1
fi
ulimit -n "$hard"

out=build/bench
mkdir -p "$out"
work=$(mktemp -d /tmp/sluice-tls-bench.XXXXXX)
pid=""; lpid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
cleanup() {
  stop
  if [ -n "$lpid" ]; then kill "$lpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# sluice's build takes seconds: the certificate is made meanwhile. The smoke run asserts no
# rate, so it builds at -O0, in half the time of -O2 (CI's budget is tight).
opt="-O2 -DNDEBUG"; [ $smoke = 1 ] && opt=-O0
# shellcheck disable=SC2086 # split on purpose
g++ $opt -std=c++17 -pthread -Iinclude -DSLUICE_WITH_OPENSSL examples/http_hello.cpp \
  -o "$out/sluice_https_hello" -lssl -lcrypto &
bpid=$!
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
# Applied by OpenSSL to every SSL_CTX the sluice process makes, before the adapter's own
# defaults (which set the minimum to TLS 1.2 again; the maximum keeps it at 1.3).
cat >"$work/openssl.cnf" <<'CNF'
openssl_conf = pins
[pins]
ssl_conf = ssl_pins
[ssl_pins]
system_default = bench_tls
[bench_tls]
MinProtocol = TLSv1.3
MaxProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
NumTickets = 0
CNF
wait $bpid || { echo "FAIL: build of examples/http_hello.cpp with SLUICE_WITH_OPENSSL"; exit 1; }

nginx_conf() { # PORT
  cat <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $work;
    proxy_temp_path $work;
    fastcgi_temp_path $work;
    uwsgi_temp_path $work;
    scgi_temp_path $work;
    server {
        listen 127.0.0.1:$1 ssl reuseport;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
        ssl_ecdh_curve X25519;
        ssl_conf_command NumTickets 0;
        location = /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
CONF
}

servers=(sluice nginx)
workloads=("tls keep-alive" "tls new handshakes")
conns=256; hs_conns=32
pin_server=""; pin_client=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_client="taskset -c 1"; fi

port=23999
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() {
  port=$((port + 1))
  while listening $port; do port=$((port + 1)); done
  [ $port -le 24999 ] || { echo "FAIL: no free port in 24000-24999"; exit 1; }
  log="$out/tls_$1.log"
  if [ "$1" = nginx ]; then
    nginx_conf $port >"$work/nginx.conf"
    $pin_server "$nginx" -p "$work" -e "$work/nginx.error.log" -c "$work/nginx.conf" >"$log" 2>&1 &
  else
    OPENSSL_CONF="$work/openssl.cnf" $pin_server "$out/sluice_https_hello" --backend epoll --port $port \
      --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" >"$log" 2>&1 &
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
  local code body
  code=$(curl -sSk --max-time 5 -o "$work/body" -w '%{http_code}' "https://127.0.0.1:$port/plaintext" 2>&1) || code="curl failed: $code"
  body=$(cat "$work/body" 2>/dev/null || true)
  if [ "$code" != 200 ] || [ "$body" != "Hello, World!" ]; then
    echo "FAIL: $1 ($2): curl got status '$code', body '$body'"; exit 1
  fi
  $py bench/tls/tls_client.py check $port >"$work/check.out" 2>&1 || { echo "FAIL: $1 ($2): $(cat "$work/check.out")"; exit 1; }
  openssl s_client -brief -connect 127.0.0.1:$port </dev/null >"$work/sclient.out" 2>&1 || true
  if ! grep -q "^Server Temp Key: X25519" "$work/sclient.out" || ! grep -q "^Signature type: ECDSA" "$work/sclient.out"; then
    echo "FAIL: $1 ($2): want X25519 and ECDSA, s_client said:"; cat "$work/sclient.out"; exit 1
  fi
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
passive_opens() { awk '$1 == "Tcp:" && $7 ~ /^[0-9]+$/ {print $7}' /proc/net/snmp; }

measure() { # server workload -> rate on stdout
  local url="https://127.0.0.1:$port/plaintext" cmd o0 o1 n r
  cmd=(wrk -t1 "-c$conns" "-d${secs}s" "$url")
  [ "$2" = "tls new handshakes" ] && cmd=(wrk -t1 "-c$hs_conns" "-d${secs}s" -H "Connection: close" "$url")
  o0=$(passive_opens)
  $pin_client "${cmd[@]}" >"$work/wrk.out" 2>&1 || { echo "FAIL: wrk on $1, $2:" >&2; cat "$work/wrk.out" >&2; return 1; }
  o1=$(passive_opens)
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
    echo "FAIL: $1, $2: wrk saw errors:" >&2; cat "$work/wrk.out" >&2; return 1
  fi
  n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  # Other processes' connections can only add to the count, never hide a reused one.
  if [ "$2" = "tls new handshakes" ] && [ $((o1 - o0)) -lt "${n:-0}" ]; then
    echo "FAIL: $1: $n requests on only $((o1 - o0)) new connections: wrk reused connections" >&2; return 1
  fi
  r=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.out")
  [ "${r:-0}" -gt 0 ] || { echo "FAIL: $1, $2: no requests/s in:" >&2; cat "$work/wrk.out" >&2; return 1; }
  echo "$r"
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# Reads the idle client's next line into `line`; gives up when it exited or after 120 s.
client_line() {
  local _
  for _ in $(seq 120); do
    read -r -t 1 -u "$rout" line && return 0
    kill -0 "$lpid" 2>/dev/null || { read -r -t 0.2 -u "$rout" line && return 0; line="(tls_client exited)"; return 0; }
  done
  line="(nothing in 120 s)"
}
idle_rss() { # server -> "rss_before rss_idle" (KiB) in `result`; the server was just checked
  local s=$1 rpid=$pid win before after
  [ "$s" = nginx ] && rpid=$(pgrep -P "$pid" | head -1)
  [ -n "$rpid" ] || { echo "FAIL: nginx has no worker"; exit 1; }
  sleep 0.2
  before=$(status_kb "$rpid" VmRSS)
  rm -f "$work/in" "$work/out"; mkfifo "$work/in" "$work/out"
  $pin_client $py bench/tls/tls_client.py idle $port "$idle_n" <"$work/in" >"$work/out" 2>"$work/idle.err" &
  lpid=$!
  # Opened read-write so neither side blocks on open if the other is gone.
  exec {win}<>"$work/in" {rout}<>"$work/out"
  client_line
  [ "$line" = "ready $idle_n" ] || { echo "FAIL: $s: tls_client said '$line': $(cat "$work/idle.err")"; exit 1; }
  sleep "$settle"
  kill -0 "$rpid" 2>/dev/null || { echo "FAIL: $s died holding $idle_n connections"; exit 1; }
  after=$(status_kb "$rpid" VmRSS)
  echo quit >&"$win"
  client_line
  [ "$line" = "pinged $idle_n" ] || { echo "FAIL: $s: after the idle wait tls_client said '$line': $(cat "$work/idle.err")"; exit 1; }
  wait "$lpid" || { echo "FAIL: $s: tls_client idle exited non-zero"; exit 1; }
  lpid=""
  exec {win}>&- {rout}<&-
  result="$before $after"
}

declare -A samples cpu_samples rate cpu idle_samples idle_kib idle_first
for round in $(seq "$rounds"); do
  for k in "${!servers[@]}"; do
    s=${servers[$(( (k + round - 1) % ${#servers[@]} ))]}
    start "$s"
    check "$s" "before measuring"
    # Idle first, on a fresh process: memory freed after wrk's 256 connections would
    # otherwise absorb the idle connections' growth.
    idle_rss "$s"
    read -r before after <<<"$result"
    per=$(awk -v a="$before" -v b="$after" -v n="$idle_n" 'BEGIN {printf "%.2f", (b - a) / n}')
    idle_samples[$s]="${idle_samples[$s]:-} $per"
    [ "$round" = 1 ] && idle_first[$s]="$before $after"
    printf 'round %d %-6s :%d %-19s %9s KiB/connection (VmRSS %s -> %s KiB)\n' "$round" "$s" $port \
      "tls idle RSS" "$per" "$before" "$after"
    for w in "${workloads[@]}"; do
      t0=$(cpu_ticks $pid)
      r=$(measure "$s" "$w") || exit 1
      t1=$(cpu_ticks $pid)
      samples[$s,$w]="${samples[$s,$w]:-} $r"
      cpu_samples[$s,$w]="${cpu_samples[$s,$w]:-} $(awk -v t=$((t1 - t0)) -v hz="$tck" \
        '/requests in/ {printf "%.1f", ($1 > 0 ? t * 1e6 / hz / $1 : 0)}' "$work/wrk.out")"
      printf 'round %d %-6s :%d %-19s %9s /s\n' "$round" "$s" $port "$w" "$r"
    done
    check "$s" "after measuring"
    stop
  done
done
for s in "${servers[@]}"; do
  for w in "${workloads[@]}"; do
    rate[$s,$w]=$(bench_median "${samples[$s,$w]}")
    cpu[$s,$w]=$(bench_median "${cpu_samples[$s,$w]}")
  done
  idle_kib[$s]=$(bench_median "${idle_samples[$s]}")
done

tsv=$out/tls.tsv
{
  units=("req/s" "handshakes/s"); cunits=("us/req" "us/handshake")
  for i in "${!workloads[@]}"; do
    w=${workloads[$i]}
    for s in "${servers[@]}"; do printf '%s\t%s\t%s\t%s\thigher\n' "$w" "$s" "${rate[$s,$w]}" "${units[$i]}"; done
    for s in "${servers[@]}"; do printf '%s, server CPU\t%s\t%s\t%s\tlower\n' "$w" "$s" "${cpu[$s,$w]}" "${cunits[$i]}"; done
  done
  for s in "${servers[@]}"; do
    printf 'tls idle RSS per connection\t%s\t%s\tbytes\tlower\n' "$s" "$(awk -v k="${idle_kib[$s]}" 'BEGIN {printf "%.0f", k * 1024}')"
  done
} >"$tsv"
[ $smoke = 1 ] && { echo "tls smoke: both servers negotiated the pinned TLS 1.3 parameters, answered every check, wrk saw no errors, $idle_n idle connections held; wrote $tsv"; exit 0; }

sluice_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain -- include examples/http_hello.cpp 2>/dev/null)" ] && sluice_rev="$sluice_rev + uncommitted changes"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
mkdir -p docs/bench
{
  echo "# HTTPS: sluice against nginx"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "Linux $(uname -r), g++ $(g++ -dumpfullversion), $(openssl version | awk '{print $1, $2}'), $("$nginx" -v 2>&1 | sed 's|.*: ||'),"
  echo "$(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'), sluice $sluice_rev. Median of ${rounds} round(s) of ${secs} s per cell (server"
  echo "order rotated each round); each server is one thread on core 0, the clients run on core 1, over"
  echo "loopback. The machine is shared with other builds: rates move between runs, CPU per request less."
  echo "Regenerate: \`bash bench/tls/run.sh\`."
  echo
  echo "- **sluice**: \`examples/http_hello.cpp --tls-cert --tls-key\` (the OpenSSL adapter,"
  echo "  \`SLUICE_WITH_OPENSSL\`), \`--backend epoll\`."
  echo "- **nginx**: Debian's, \`worker_processes 1\`, \`return 200 \"Hello, World!\"\`, access log off."
  echo "- Both: the same self-signed ECDSA P-256 certificate, TLS 1.3 only, TLS_AES_128_GCM_SHA256,"
  echo "  X25519, no session tickets (so no resumption). sluice gets them from an OpenSSL"
  echo "  configuration file (\`OPENSSL_CONF\`), nginx from \`ssl_protocols\`, \`ssl_ecdh_curve\` and"
  echo "  \`ssl_conf_command\`; each server's check proves what it negotiates."
  echo
  echo "Workloads: **keep-alive**, wrk with $conns connections, one GET in flight on each (the $conns"
  echo "handshakes at the start are in the cell); **new handshakes**, wrk with $hs_conns connections and"
  echo "\`Connection: close\`, so every request is a new TCP connection with a full handshake (the"
  echo "kernel's count of accepted connections is checked against wrk's requests; wrk would resume"
  echo "sessions it holds, but no server issues a ticket); **idle**, $idle_n connections opened by"
  echo "\`bench/tls/tls_client.py\` (handshake and one GET each) and held, the server's VmRSS growth"
  echo "over $idle_n (nginx: its worker), after ${settle} s. wrk and Python's ssl are the clients: a cell where"
  echo "both servers reach the same rate is the client's ceiling, and then CPU per request tells them apart."
  echo
  echo "| server | keep-alive req/s | CPU µs/req | new handshakes/s | CPU µs/handshake | idle KiB/connection | VmRSS before, with $idle_n idle (KiB) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for s in "${servers[@]}"; do
    # shellcheck disable=SC2086 # split on purpose
    set -- ${idle_first[$s]}
    echo "| $s | ${rate[$s,tls keep-alive]} | ${cpu[$s,tls keep-alive]} | ${rate[$s,tls new handshakes]} | ${cpu[$s,tls new handshakes]} | ${idle_kib[$s]} | $1, $2 |"
  done
  echo "| **sluice / nginx** | $(ratio "${rate[sluice,tls keep-alive]}" "${rate[nginx,tls keep-alive]}") |" \
    "$(ratio "${cpu[sluice,tls keep-alive]}" "${cpu[nginx,tls keep-alive]}") |" \
    "$(ratio "${rate[sluice,tls new handshakes]}" "${rate[nginx,tls new handshakes]}") |" \
    "$(ratio "${cpu[sluice,tls new handshakes]}" "${cpu[nginx,tls new handshakes]}") |" \
    "$(ratio "${idle_kib[sluice]}" "${idle_kib[nginx]}") | |"
  echo
  echo "Rates: above 1.00 sluice is faster; CPU and memory: below 1.00 sluice spends less. The"
  echo "VmRSS column is from the first round."
  echo
  echo "Where the time and memory go, measured once by hand (2026-12-07, sluice 4caab2d), not by"
  echo "this script:"
  echo
  echo "- User-space instructions (callgrind, Python's ssl sending one request at a time): per"
  echo "  keep-alive request sluice 21,300, nginx 25,300 (0.84); per new connection with its full"
  echo "  handshake and one request sluice 2,398,000, nginx 2,371,000 (1.01). sluice's extra 27,000"
  echo "  are nearly all \`SSL_use_cert_and_key\` in the certificate callback (the SNI choice, made"
  echo "  on every handshake even with one certificate): 23,000. Since 01a0b74 the default"
  echo "  certificate is the SSL_CTX's and the callback returns at once for it."
  echo "- Keep-alive (perf record on each server): ~55% of either server's time is the kernel's"
  echo "  loopback TCP, ~25% OpenSSL (libcrypto and libssl alike), ~10% sluice's own code against"
  echo "  ~13% nginx's. sluice makes 2 system calls per request (one recv, one send: one TLS record"
  echo "  per response), nginx 3 (a second read that finds nothing, and one write)."
  echo "- New handshakes: ~67% of either server's time is OpenSSL (X25519, the ECDSA signature,"
  echo "  OpenSSL 3's per-handshake fetches and locks), ~2.5% sluice's own code."
  echo "- Idle (valgrind massif, 200 connections): both hold the same OpenSSL state (the SSL"
  echo "  object ~7.5 KiB, its session, cipher contexts). sluice's extra ~2.9 KiB: its two memory"
  echo "  BIOs keep buffers sized by the largest flight, the handshake's (~1.7 KiB; nginx reads and"
  echo "  writes the socket through a socket BIO, with no buffer); the write queue's deque, the"
  echo "  stream's extension and the HTTP session (~1.3 KiB). The ciphertext scratch string kept"
  echo "  that flight's capacity too (~0.6 KiB) until sluice 84d4571 released it after the handshake."
} >docs/bench/tls.md
cat docs/bench/tls.md
