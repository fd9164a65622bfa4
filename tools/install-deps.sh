#!/usr/bin/env bash
# Installs what building and testing sluice needs on a fresh Debian machine.
# Cheap when everything is already there: apt-get runs only for missing pieces.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have cmake || need+=(cmake)
have ninja || need+=(ninja-build)
have g++ || need+=(g++)
have clang++ || need+=(clang)
have pkg-config || need+=(pkg-config)
have python3 || need+=(python3)
have curl || need+=(curl)
have wrk || need+=(wrk)
# the balancers the scale-out tests put sluice behind
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
[ -f /usr/include/doctest/doctest.h ] || need+=(doctest-dev)
# zlib: only for the opt-in permessage-deflate (ws_echo, test_ws_deflate), never the library
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
# OpenSSL 3: only for the opt-in TLS adapter (SLUICE_WITH_OPENSSL: test_tls, the examples'
# --tls-cert), never the library; openssl makes the test certificates; sslscan checks them
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
# mbedTLS 2.28: only for the second opt-in TLS adapter (SLUICE_WITH_MBEDTLS: test_tls_mbedtls)
[ -f /usr/include/mbedtls/ssl.h ] || need+=(libmbedtls-dev)
have openssl || need+=(openssl)
have sslscan || need+=(sslscan)
# JSON for examples/rest_api only (the library has no dependency)
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)
# clang's sanitizer and libFuzzer runtimes
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The real WebSocket clients of the test suite: python3-websockets, Chromium, node's ws.
bash "$(dirname "$0")/../tests/ws_clients/install.sh"
