#!/usr/bin/env bash
# HTTPS from http_hello --tls-cert/--tls-key against real peers (loopback): curl (keep-alive,
# verification), openssl s_client (SNI, ALPN, data, resumption, old versions refused),
# python3 ssl (pipelining; garbage, a stalled handshake, a reset mid-record disturb
# nothing), sslscan (no SSLv3/TLS 1.0/1.1, no weak cipher). Certificates: make_certs.sh.
#   tests/tls/run.sh path/to/http_hello [mbedtls]
# With "mbedtls" the server runs on the mbedTLS adapter (http_hello --tls-adapter mbedtls):
# the same checks, except that mbedTLS 2.28 speaks TLS 1.2 only, so TLS 1.3 must be off.
set -euo pipefail
# Checks use grep -q on here-strings, never `echo | grep -q`: under pipefail, grep -q may
# exit before echo has written all, and the SIGPIPE would fail a check that matched.
bin=$1
adapter=${2:-openssl}
versions="-tls1_2 -tls1_3" on13=enabled
[ "$adapter" = mbedtls ] && versions="-tls1_2" on13=disabled
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
bash "$here/make_certs.sh" "$work/c"
c=$work/c
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --port "$port" --tls-adapter "$adapter" --tls-cert "$c/localhost.pem" \
  --tls-key "$c/localhost.key" --tls-cert "$c/other.pem" --tls-key "$c/other.key" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/server.log" 2>/dev/null && break; sleep 0.1; done
grep -q "HTTPS" "$work/server.log" || fail "http_hello did not start with TLS: $(cat "$work/server.log")"
url=https://localhost:$port

echo "== curl --cacert: three requests, one connection (keep-alive)"
out=$(curl -sS -v --cacert "$c/ca.pem" "$url/plaintext" "$url/plaintext" "$url/nope" 2>"$work/curl.err")
[ "$out" = "Hello, World!Hello, World!Not Found" ] || fail "curl bodies: $out"
[ "$(grep -c 'Re-using existing connection' "$work/curl.err")" -eq 2 ] || fail "connection not reused: $(cat "$work/curl.err")"
grep -q 'ALPN: server accepted http/1.1\|ALPN, server accepted to use http/1.1' "$work/curl.err" || fail "no ALPN http/1.1"

echo "== curl without the test CA refuses the server"
rc=0; curl -sS "$url/plaintext" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 60 ] || fail "curl without --cacert exited $rc, expected 60 (certificate problem)"

echo "== SNI: other.test gets its own certificate, verified"
out=$(curl -sS --cacert "$c/ca.pem" --resolve "other.test:$port:127.0.0.1" "https://other.test:$port/plaintext")
[ "$out" = "Hello, World!" ] || fail "SNI other.test: $out"
s_client() { openssl s_client -connect "127.0.0.1:$port" -CAfile "$c/ca.pem" "$@" 2>&1; }
out=$(s_client -servername other.test -verify_hostname other.test -alpn http/1.1 </dev/null)
grep -q 'subject=CN = other.test' <<<"$out" || fail "s_client SNI: $out"
grep -q 'ALPN protocol: http/1.1' <<<"$out" || fail "s_client ALPN: $out"
grep -q 'Verify return code: 0 (ok)' <<<"$out" || fail "s_client verify: $out"
out=$(s_client -servername localhost -verify_hostname localhost </dev/null)
grep -q 'subject=CN = localhost' <<<"$out" || fail "s_client default cert: $out"

echo "== s_client: data through it"
out=$(printf 'GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
      s_client -servername localhost -quiet -ign_eof)
grep -q 'Hello, World!' <<<"$out" || fail "s_client data: $out"

echo "== resumption (TLS 1.2 session id, TLS 1.3 ticket)"
for v in $versions; do
  first=$(printf 'GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
    s_client $v -servername localhost -sess_out "$work/sess$v" -ign_eof)
  out=$(printf 'GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        s_client $v -servername localhost -sess_in "$work/sess$v" -ign_eof)
  grep -q '^Reused, TLSv1\.[23]' <<<"$out" ||
    fail "no resumption with $v: --- first connection:
$first
--- second connection:
$out"
done

echo "== TLS 1.0 and 1.1 are refused"
for v in -tls1 -tls1_1; do
  out=$(s_client $v -cipher 'ALL:@SECLEVEL=0' -servername localhost </dev/null || true)
  grep -q 'Cipher is (NONE)\|no protocols available\|alert protocol version' <<<"$out" ||
    fail "$v was not refused: $out"
done

echo "== python3 ssl: pipelined requests, and misbehaving peers disturb nothing"
python3 "$here/peers.py" "$port" "$c/ca.pem"

echo "== sslscan: protocols and ciphers"
sslscan --no-colour "127.0.0.1:$port" >"$work/scan.txt" 2>&1 || true
for p in SSLv2 SSLv3 'TLSv1.0' 'TLSv1.1'; do
  grep -Eq "^$p +disabled" "$work/scan.txt" || fail "sslscan: $p not disabled: $(cat "$work/scan.txt")"
done
grep -Eq "^TLSv1.2 +enabled" "$work/scan.txt" || fail "sslscan: TLSv1.2 not enabled"
grep -Eq "^TLSv1.3 +$on13" "$work/scan.txt" || fail "sslscan: TLSv1.3 not $on13"
accepted=$(grep -E '^(Preferred|Accepted) ' "$work/scan.txt" || true)
[ -n "$accepted" ] || fail "sslscan listed no cipher: $(cat "$work/scan.txt")"
echo "$accepted"
weak=$(echo "$accepted" | grep -Ev 'TLSv1\.3|ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)' || true)
[ -z "$weak" ] || fail "sslscan accepted a weak or non-forward-secret cipher: $weak"

kill -0 "$server_pid" || fail "http_hello died"
echo "tls/run.sh ($adapter): all passed"
