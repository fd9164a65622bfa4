#!/usr/bin/env bash
# Three http_hello processes behind HAProxy, then behind nginx (both from Debian), on
# loopback. A client sends keep-alive GETs through the balancer one at a time; a third
# of the way in, one backend is killed with SIGKILL. It checks that:
#   - before the kill, all three backends serve;
#   - after it, the two others carry every request (none lost: both balancers retry a
#     GET whose backend refused the connection) and the dead one gets nothing.
# Then the PROXY protocol with real senders: HAProxy in TCP mode with send-proxy-v2 and
# nginx's stream module with proxy_protocol on (v1) in front of http_hello
# --proxy-protocol on; a client bound to 127.0.0.7 must be the address GET /client
# reports, and a connection that skips the balancer (no PROXY header) gets no answer.
# Usage: run.sh HTTP_HELLO_BIN
set -euo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
command -v haproxy >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq haproxy >/dev/null; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq nginx-light >/dev/null || apt-get install -y -qq nginx >/dev/null; }
stream_module=/usr/lib/nginx/modules/ngx_stream_module.so
[ -f $stream_module ] || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq libnginx-mod-stream >/dev/null; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Free ports, below the kernel's ephemeral range (32768 and up) so that no other test's
# outgoing connection takes one meanwhile. The probing sockets are closed *before* the
# ports are printed: `read ... < <(free_ports N)` returns as soon as the line arrives,
# and a server started then found the port still held by this script (seen: "listen on
# port 24224: Address already in use").
free_ports() { python3 -c '
import random, socket, sys
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randrange(15000, 32000)
    if p in ports: continue
    s = socket.socket()
    try: s.bind(("127.0.0.1", p))
    except OSError: continue
    finally: s.close()
    ports.append(p)
print(" ".join(map(str, ports)), flush=True)' "$1"; }

wait_port() { # wait_port PORT: until something accepts there (at most 10 s)
  for _ in $(seq 100); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "FAIL: nothing listens on port $1"
  for f in "$work"/*.log; do echo "--- $f"; tail -5 "$f"; done
  return 1
}

count=600
kill_at=200
failed=0

# check NAME HEADER SUMMARY_JSON DEAD_NAME: judge one run
check() {
  python3 - "$@" <<'PY'
import json, sys
name, dead, summary = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
before, after = summary["before_kill"], summary["after_kill"]
live = sorted(k for k in before if k != dead)
print(f"{name}: before the kill {dict(sorted(before.items()))}; after it {dict(sorted(after.items()))}; "
      f"lost {summary['failures']}; {summary['seconds']} s")
ok = True
if len(before) != 3 or min(before.values()) < 30:
    print(f"FAIL {name}: before the kill not all three backends served"); ok = False
if after.get(dead, 0) != 0:
    print(f"FAIL {name}: the killed backend {dead} still answered {after[dead]}"); ok = False
if len(live) != 2 or any(after.get(k, 0) < 100 for k in live):
    print(f"FAIL {name}: the two live backends did not carry on"); ok = False
if summary["failures"] != 0:
    print(f"FAIL {name}: {summary['failures']} requests lost: {summary['errors']}"); ok = False
print(("PASS " if ok else "FAIL ") + name)
sys.exit(0 if ok else 1)
PY
}

start_backends() { # sets b1 b2 b3 and bpid1..3
  read -r b1 b2 b3 < <(free_ports 3)
  bpids=()
  for p in $b1 $b2 $b3; do
    "$bin" --port "$p" >"$work/backend-$p.log" 2>&1 &
    pids+=($!); bpids+=($!)
  done
  for p in $b1 $b2 $b3; do wait_port "$p"; done
}

# ---- HAProxy: round robin, health checks every 200 ms, retries with redispatch
start_backends
read -r front < <(free_ports 1)
cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 256
defaults
  mode http
  timeout connect 1s
  timeout client 10s
  timeout server 10s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout
frontend web
  bind 127.0.0.1:$front
  default_backend sluice
backend sluice
  balance roundrobin
  http-response set-header X-Served-By %[srv_name]
  option httpchk GET /plaintext
  server s1 127.0.0.1:$b1 check inter 200 fall 2 rise 2
  server s2 127.0.0.1:$b2 check inter 200 fall 2 rise 2
  server s3 127.0.0.1:$b3 check inter 200 fall 2 rise 2
CFG
"$haproxy_bin" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
hpid=$!; pids+=($hpid)
wait_port "$front"
sleep 0.5 # first health checks
summary=$(python3 "$here/client.py" "$front" X-Served-By $count $kill_at "kill -9 ${bpids[1]}")
check haproxy s2 "$summary" || failed=1
kill "$hpid"; for p in "${bpids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
pids=()

# ---- nginx: round robin, passive health (max_fails), next upstream on error
start_backends
read -r front < <(free_ports 1)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CFG
worker_processes 1;
daemon off;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  upstream sluice {
    server 127.0.0.1:$b1 max_fails=1 fail_timeout=10s;
    server 127.0.0.1:$b2 max_fails=1 fail_timeout=10s;
    server 127.0.0.1:$b3 max_fails=1 fail_timeout=10s;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$front;
    location / {
      proxy_pass http://sluice;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
      add_header X-Served-By \$upstream_addr always;
    }
  }
}
CFG
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx.log" 2>&1 &
npid=$!; pids+=($npid)
wait_port "$front"
summary=$(python3 "$here/client.py" "$front" X-Served-By $count $kill_at "kill -9 ${bpids[1]}")
check nginx "127.0.0.1:$b2" "$summary" || failed=1

kill "$npid"; for p in "${bpids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
pids=()

# ---- PROXY protocol from real balancers
read -r b1 hfront nfront < <(free_ports 3)
"$bin" --port "$b1" --proxy-protocol on >"$work/backend-proxy.log" 2>&1 &
pids+=($!)
cat >"$work/haproxy-tcp.cfg" <<CFG
defaults
  mode tcp
  timeout connect 1s
  timeout client 10s
  timeout server 10s
frontend l4
  bind 127.0.0.1:$hfront
  default_backend sluice
backend sluice
  server s1 127.0.0.1:$b1 send-proxy-v2
CFG
"$haproxy_bin" -f "$work/haproxy-tcp.cfg" -db >"$work/haproxy-tcp.log" 2>&1 &
pids+=($!)
mkdir -p "$work/nginx-stream"
cat >"$work/nginx-stream/nginx.conf" <<CFG
load_module $stream_module;
worker_processes 1;
daemon off;
error_log $work/nginx-stream/error.log warn;
pid $work/nginx-stream/nginx.pid;
events { worker_connections 64; }
stream {
  server {
    listen 127.0.0.1:$nfront;
    proxy_pass 127.0.0.1:$b1;
    proxy_protocol on;
  }
}
CFG
"$nginx_bin" -p "$work/nginx-stream" -c "$work/nginx-stream/nginx.conf" >"$work/nginx-stream.log" 2>&1 &
pids+=($!)
for p in $b1 $hfront $nfront; do wait_port "$p"; done
for lb in "haproxy send-proxy-v2:$hfront" "nginx stream proxy_protocol (v1):$nfront"; do
  name=${lb%:*}; port=${lb##*:}
  got=$(curl -s --max-time 5 --interface 127.0.0.7 "http://127.0.0.1:$port/client" || true)
  if [ "$got" = "127.0.0.7" ]; then
    echo "PASS $name: the server saw the real client 127.0.0.7"
  else
    echo "FAIL $name: GET /client answered '$got', not 127.0.0.7"; failed=1
  fi
done
direct=$(curl -s --max-time 5 "http://127.0.0.1:$b1/client" || true)
if [ -z "$direct" ]; then
  echo "PASS direct connection without a PROXY header: closed, no answer"
else
  echo "FAIL direct connection without a PROXY header answered '$direct'"; failed=1
fi

if [ "$failed" != 0 ]; then
  echo "--- haproxy log"; tail -20 "$work/haproxy.log" || true
  echo "--- nginx error log"; tail -20 "$work/nginx/error.log" || true
  exit 1
fi
echo "behind_lb: 5 passed, 0 failed"
