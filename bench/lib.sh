# What several benchmark suites share; sourced by bench/*/run.sh.

# bench_install ITEM...: installs the Debian packages that are missing. An ITEM is a
# package name (checked in dpkg's records) or COMMAND:PACKAGE (skipped when the command
# exists, e.g. nginx:nginx is satisfied by nginx-light too).
bench_install() {
  local missing=() item cmd pkg
  for item in "$@"; do
    if [[ $item == *:* ]]; then
      cmd=${item%%:*} pkg=${item#*:}
      command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
    elif ! dpkg-query -W -f='${Status}' "$item" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$item")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The C and C++ peers: libuv, standalone asio, libevent.
bench_install_peers() { bench_install libuv1-dev libasio-dev libevent-dev "$@"; }

# bench_median "v1 v2 ...": the median of the samples.
bench_median() {
  # shellcheck disable=SC2086 # split on purpose
  printf '%s\n' $1 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

# bench_pipeline_lua FILE: a wrk script sending N (its argument) GET /plaintext per write.
# Request-only: with no response() callback wrk stays as fast as without a script.
bench_pipeline_lua() {
  cat >"$1" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, tonumber(args[1]) do r[i] = wrk.format("GET", "/plaintext") end
  req = table.concat(r)
end
request = function() return req end
LUA
}

# bench_nginx_conf WORKERS PORT DIR: nginx answering GET /plaintext like the TechEmpower
# test, in the foreground, with its files in DIR.
bench_nginx_conf() {
  cat <<CONF
daemon off;
worker_processes $1;
pid $3/nginx.pid;
error_log $3/nginx.error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $3;
    proxy_temp_path $3;
    fastcgi_temp_path $3;
    uwsgi_temp_path $3;
    scgi_temp_path $3;
    server {
        listen 127.0.0.1:$2 reuseport;
        location = /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
CONF
}
