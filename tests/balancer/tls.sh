#!/usr/bin/env bash
# The balancer terminating TLS (http mode), on loopback, against three plain backends:
#  (a) flag errors: TLS in tcp mode, a cert without a key, --redirect-http without TLS,
#      a certificate file that does not load;
#  (b) a plain listener forwards X-Forwarded-Proto: http (a client's own value replaced);
#  (c) HTTPS in (python3 ssl and curl, verified against the test CA): round robin exact
#      on one keep-alive connection and on a new TLS connection per request, ALPN
#      http/1.1, the backends see X-Forwarded-Proto: https and X-Forwarded-For; the
#      second certificate served for its SNI name; an untrusted CA and plain HTTP fail;
#  (d) --redirect-http: 301 to https://HOST:TLSPORT/path?query (Host port stripped),
#      keep-alive across requests and a body, 400 without Host, a body over 1 MiB closes;
#  (e) a backend killed by PID mid-run: no failed request (those in flight on it are
#      retried), nothing more from it;
#  (f) SIGTERM: exit 0.
#   tests/balancer/tls.sh path/to/balancer             (a build with SLUICE_WITH_OPENSSL)
#   tests/balancer/tls.sh path/to/balancer --refused   (a build without: the flags refused)
# Prints PASS/FAIL lines; exits 1 on any failure.
set -u
bin=${1:?usage: tls.sh path/to/balancer [--refused]}
here=$(cd "$(dirname "$0")" && pwd)
failures=0
pass() { echo "PASS: $*"; }
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
finish() {
    if [ "$failures" = 0 ]; then
        echo "balancer tls: all checks passed in ${SECONDS}s"
        exit 0
    fi
    echo "balancer tls: $failures check(s) failed (${SECONDS}s)"
    exit 1
}
work=$(mktemp -d -t sluice-balancer-tls.XXXXXX)
started=() # every process this script started and has not waited for: killed by PID on exit
# A process waited for leaves the list: its PID may belong to someone else by the end.
forget() { # forget PID
    local keep=() p
    for p in "${started[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    started=("${keep[@]}")
}
cleanup() {
    for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ -n "${BALANCER_KEEP_LOGS:-}" ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [ "${2:-}" = --refused ]; then
    # Without OpenSSL the flags are refused with a reason, never ignored.
    timeout 5 "$bin" --listen 127.0.0.1:1 --mode http --policy rr --backend 127.0.0.1:1 \
        --health-interval 100 --tls-cert c.pem --tls-key k.pem 2>"$work/err"
    rc=$?
    [ "$rc" = 2 ] && grep -q "built without TLS" "$work/err" &&
        pass "no OpenSSL: --tls-cert refused, exit 2 ($(cat "$work/err"))" ||
        fail "no OpenSSL: exit $rc: $(cat "$work/err")"
    finish
fi

for tool in python3 curl openssl; do
    command -v "$tool" >/dev/null || apt-get install -y "$tool" >/dev/null
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is required"; exit 1; }
done
bash "$here/../tls/make_certs.sh" "$work/certs" || { echo "FAIL: make_certs.sh"; exit 1; }
ca=$work/certs/ca.pem
tls_client() { timeout 60 python3 "$here/tls_client.py" "$@"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # wait_for FILE PATTERN SECONDS
    local i
    for i in $(seq $(($3 * 20))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# ---- (a) flag errors, before anything runs
flags_rc() { # flags_rc EXPECTED_RC GREP LABEL ARGS...
    local want=$1 pattern=$2 label=$3
    shift 3
    # timeout: one that starts instead of refusing is ended (and fails: exit 124)
    timeout 5 "$bin" --listen 127.0.0.1:1 --policy rr --backend 127.0.0.1:1 \
        --health-interval 100 "$@" 2>"$work/err"
    local rc=$?
    [ "$rc" = "$want" ] && grep -q -- "$pattern" "$work/err" &&
        pass "flags: $label: exit $rc ($(head -1 "$work/err"))" ||
        fail "flags: $label: exit $rc, want $want: $(cat "$work/err")"
}
c=$work/certs
flags_rc 2 "need --mode http" "TLS in tcp mode" --mode tcp --tls-cert "$c/localhost.pem" --tls-key "$c/localhost.key"
flags_rc 2 "go together" "a cert without a key" --mode http --tls-cert "$c/localhost.pem"
flags_rc 2 "needs --tls-cert" "--redirect-http without TLS" --mode http --redirect-http 1
flags_rc 1 "TLS: .*missing.pem" "a certificate that does not load" --mode http --tls-cert "$c/missing.pem" --tls-key "$c/localhost.key"

# ---- three plain backends
declare -A bpid bport
for b in b1 b2 b3; do
    python3 "$here/backend.py" --name "$b" --mode http --port 0 >"$work/backend-$b.log" 2>&1 &
    bpid[$b]=$!
    started+=($!)
done
for b in b1 b2 b3; do
    wait_for "$work/backend-$b.log" listening 10 || { echo "FAIL: backend $b did not start"; exit 1; }
    bport[$b]=$(awk '/listening/ {print $2}' "$work/backend-$b.log")
done

lb_pid= lb_port= lb_log= redirect_port= lb_runs=0
start_balancer() { # start_balancer [EXTRA FLAGS...]: plain, or HTTPS with the flags given
    local try
    lb_runs=$((lb_runs + 1))
    for try in $(seq 10); do
        lb_port=$(free_port) redirect_port=$(free_port)
        lb_log=$work/lb$lb_runs-$try.log
        local args=()
        for a in "$@"; do args+=("${a//REDIRECT_PORT/$redirect_port}"); done
        "$bin" --listen "127.0.0.1:$lb_port" --mode http --policy rr \
            --backend "127.0.0.1:${bport[b1]}" --backend "127.0.0.1:${bport[b2]}" \
            --backend "127.0.0.1:${bport[b3]}" --health-interval 200 --drain-timeout 5000 \
            "${args[@]}" 2>"$lb_log" &
        lb_pid=$!
        started+=($lb_pid)
        wait_for "$lb_log" listening 5 && kill -0 "$lb_pid" 2>/dev/null && return 0
        wait "$lb_pid" 2>/dev/null # a port taken meanwhile: again, on others
        forget "$lb_pid"
    done
    echo "FAIL: balancer did not start"
    cat "$lb_log"
    exit 1
}
stop_balancer() { # SIGTERM: exit 0, and the stats lines
    kill -TERM "$lb_pid" 2>/dev/null
    local rc
    wait "$lb_pid"
    rc=$?
    forget "$lb_pid"
    [ "$rc" = 0 ] && [ "$(grep -c 'stats backend' "$lb_log")" = 3 ] &&
        pass "$1: SIGTERM, exit 0 with stats" || fail "$1: exit $rc after SIGTERM (log $lb_log)"
}

# ---- (b) a plain listener says http, whatever the client claimed
start_balancer
xfp=$(curl -s -o /dev/null -D - -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$lb_port/" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "x-seen-xfp" {print $2}')
[ "$xfp" = http ] && pass "plain listener: backend saw X-Forwarded-Proto: http (client's https replaced)" ||
    fail "plain listener: backend saw X-Forwarded-Proto '$xfp'"
stop_balancer "plain"

# ---- (c) HTTPS in: two certificates (the second by SNI), and the redirect port
start_balancer --tls-cert "$c/localhost.pem" --tls-key "$c/localhost.key" \
    --tls-cert "$c/other.pem" --tls-key "$c/other.key" --redirect-http REDIRECT_PORT
grep -q "mode http (HTTPS)" "$lb_log" && pass "https: the start line says HTTPS" || fail "https: $(cat "$lb_log")"
tls_client dist --port "$lb_port" --ca "$ca" --n 150 >"$work/ka.json"
echo "https keep-alive 150: $(cat "$work/ka.json")"
[ "$(json "$work/ka.json" "(d.get('b1'), d.get('b2'), d.get('b3'), d['_failures'], d['_connections'], d['_alpn'])")" = "(50, 50, 50, 0, 1, 'http/1.1')" ] &&
    pass "https: 150 requests on one keep-alive TLS connection, round robin 50/50/50, ALPN http/1.1, backends saw XFP https" ||
    fail "https keep-alive: $(cat "$work/ka.json")"
tls_client dist --port "$lb_port" --ca "$ca" --n 30 --fresh --send-xfp http >"$work/fresh.json"
echo "https fresh 30: $(cat "$work/fresh.json")"
[ "$(json "$work/fresh.json" "(d.get('b1'), d.get('b2'), d.get('b3'), d['_failures'], d['_connections'])")" = "(10, 10, 10, 0, 30)" ] &&
    pass "https: 30 requests on 30 TLS connections (each claiming XFP http): 10/10/10, backends saw https" ||
    fail "https fresh: $(cat "$work/fresh.json")"
tls_client dist --port "$lb_port" --ca "$ca" --n 3 --sni other.test >"$work/sni.json"
[ "$(json "$work/sni.json" "d['_failures']")" = 0 ] &&
    pass "https: SNI other.test gets the certificate for other.test (verified)" ||
    fail "https SNI: $(cat "$work/sni.json")"
names=
for i in 1 2 3; do
    names+="$(curl -s --max-time 10 --cacert "$ca" "https://localhost:$lb_port/") "
done
[ "$(echo $names | tr ' ' '\n' | sort | tr '\n' ' ')" = "b1 b2 b3 " ] &&
    pass "https: curl --cacert, 3 requests, answered by $names" || fail "https curl: '$names'"
curl -s --max-time 10 --cacert "$c/self.pem" "https://localhost:$lb_port/" >/dev/null
rc=$?
[ "$rc" = 60 ] && pass "https: a client that does not trust the CA refuses (curl exit 60)" ||
    fail "https: curl with the wrong CA exit $rc, want 60"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lb_port/")
[ "$code" = 000 ] && pass "https: plain HTTP to the TLS port gets no HTTP answer" ||
    fail "https: plain HTTP to the TLS port got $code"

# ---- (d) --redirect-http
tls_client redirect --port "$redirect_port" --tls-port "$lb_port" >"$work/redir.json"
rc=$?
echo "redirect: $(cat "$work/redir.json")"
[ "$rc" = 0 ] && [ "$(json "$work/redir.json" "len(d)")" = 6 ] &&
    pass "redirect (python http.client): 301s with path+query, Host port stripped, v6 host; keep-alive across 4 requests and a body; 400 without Host; a 2 MiB body: 301, Connection: close" ||
    fail "redirect: $(cat "$work/redir.json")"
curl -sI --max-time 10 "http://localhost:$redirect_port/x/y.html?a=1&b=%2F" | tr -d '\r' >"$work/head"
[ "$(head -1 "$work/head")" = "HTTP/1.1 301 Moved Permanently" ] &&
    grep -qx "Location: https://localhost:$lb_port/x/y.html?a=1&b=%2F" "$work/head" &&
    pass "redirect (curl -sI): $(grep Location "$work/head")" || fail "redirect curl: $(cat "$work/head")"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'Host:' "http://127.0.0.1:$redirect_port/")
[ "$code" = 400 ] && pass "redirect (curl): no Host header, 400" || fail "redirect curl without Host: $code"

# ---- (e) b2 killed by PID while 6 slow GETs are in flight (two on each backend: nothing
# else is running when they are sent) and one HTTPS client sends a request every 5 ms
tls_client slow --port "$lb_port" --ca "$ca" --n 6 --ms 2500 --out "$work/slow.sent" >"$work/slow.json" &
slow=$!
started+=($slow)
wait_for "$work/slow.sent" sent 10 || fail "kill: the slow GETs were not sent"
sleep 0.3 # and forwarded
tls_client steady --port "$lb_port" --ca "$ca" --seconds 3 --out "$work/steady" &
steady=$!
started+=($steady)
sleep 1
kill -KILL "${bpid[b2]}"
wait "${bpid[b2]}" 2>/dev/null
forget "${bpid[b2]}"
killed_at=$(wc -l <"$work/steady")
wait_for "$lb_log" "backend 127.0.0.1:${bport[b2]} down" 5 &&
    pass "kill: balancer logged b2 down" || fail "kill: no down line for b2"
wait "$steady"
forget "$steady"
total=$(wc -l <"$work/steady")
failed=$(grep -c FAIL "$work/steady")
before_b2=$(awk -v a="$killed_at" 'NR <= a && $2 == "b2"' "$work/steady" | wc -l)
# The one request answered as the kill happened may be written just after it was counted.
after_b2=$(awk -v a="$killed_at" 'NR > a + 1 && $2 == "b2"' "$work/steady" | wc -l)
echo "kill: $total requests over HTTPS, $failed failed; b2 answered $before_b2 before the kill, $after_b2 after"
grep FAIL "$work/steady" | head -3
[ "$failed" = 0 ] && [ "$total" -gt 100 ] && pass "kill: $total requests across the kill, none failed" ||
    fail "kill: $failed of $total failed"
[ "$before_b2" -gt 10 ] && [ "$after_b2" = 0 ] && [ "$((total - killed_at))" -gt 50 ] &&
    pass "kill: b2 in the rotation before ($before_b2), out of it after" ||
    fail "kill: b2 answered $before_b2 before, $after_b2 after ($((total - killed_at)) requests after)"
wait "$slow"
forget "$slow"
echo "kill: slow GETs in flight: $(cat "$work/slow.json")"
[ "$(json "$work/slow.json" "d['ok'] == 6 and 'b2' not in d['answers']")" = True ] &&
    pass "kill: the GETs in flight on the killed backend were answered by others; all 6 answered" ||
    fail "kill: slow GETs $(cat "$work/slow.json")"

# ---- (f)
stop_balancer "https"
grep "stats backend" "$lb_log" | sed "s/^/https: /"
# Each GET in flight on b2 failed there once (then was sent on, again to b2 on a new
# connection when the broken one was pooled, or to another backend): so they were on b2.
b2_failed=$(grep "stats backend 127.0.0.1:${bport[b2]} " "$lb_log" | sed -n 's/.* failed=\([0-9]*\).*/\1/p')
[ "${b2_failed:-0}" -ge 2 ] && pass "kill: b2 counted $b2_failed failures (the 2 GETs in flight on it)" ||
    fail "kill: b2 counted '${b2_failed}' failures, want at least 2"
finish
