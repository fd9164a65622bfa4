// sluice — single-header C++ async I/O: an event loop over epoll / kqueue / poll /
// select with callbacks (C++17) and coroutines (C++20), plus strict HTTP/1.1 and
// WebSocket protocol helpers. Distributed under the Boost Software License 1.0.
//
// Layers, each using only the ones above it in this list:
//   util/      callables and buffers
//   platform/  sockets, addresses, errors — the only OS-specific code with backend/
//   backend/   one small file per poller behind one narrow interface
//   loop/      the loop: timers, posting, signals, thread pool
//   handles/   tcp, unix, udp, timer
//   group/     N loops on N threads sharing one port (SO_REUSEPORT or an acceptor)
//   proxy/ http/ ws/  protocol codecs (sans-I/O) and their helpers in util/
#pragma once

// Layers this header can leave out, for a faster build of a program that does not use
// them (README.md, "Compile time"). Each layer's own header still works when
// included directly; these only thin out this umbrella.
//   SLUICE_NO_GROUP      loop_group
//   SLUICE_NO_WEBSOCKET  sluice::ws
//   SLUICE_NO_HTTP       sluice::http; implies SLUICE_NO_WEBSOCKET (its handshake is HTTP)
//   SLUICE_NO_PROXY      sluice::proxy; needs SLUICE_NO_HTTP (an HTTP server reads PROXY headers)
// The coroutine layer has the library-wide switch SLUICE_DISABLE_COROUTINES (config.hpp).
#if defined(SLUICE_NO_HTTP) && !defined(SLUICE_NO_WEBSOCKET)
#define SLUICE_NO_WEBSOCKET 1
#endif
#if defined(SLUICE_NO_PROXY) && !defined(SLUICE_NO_HTTP)
#error "SLUICE_NO_PROXY needs SLUICE_NO_HTTP too: the HTTP server reads PROXY protocol headers"
#endif

#include <sluice/version.hpp>
#include <sluice/config.hpp>
#include <sluice/util/function.hpp>
#include <sluice/util/buffer.hpp>
#include <sluice/platform/error.hpp>
#include <sluice/platform/socket.hpp>
#include <sluice/platform/endpoint.hpp>
#include <sluice/backend/make_poller.hpp>
#include <sluice/loop/loop.hpp>
#include <sluice/handles/timer.hpp>
#include <sluice/handles/stream.hpp>
#include <sluice/handles/tcp.hpp>
#include <sluice/handles/unix.hpp>
#include <sluice/handles/udp.hpp>
// TLS: the engine interface is always here (no dependency); an adapter only when asked for:
// OpenSSL (define SLUICE_WITH_OPENSSL and link -lssl -lcrypto, or include
// <sluice/tls/openssl.hpp> yourself), mbedTLS 2.28 (SLUICE_WITH_MBEDTLS, link -lmbedtls
// -lmbedx509 -lmbedcrypto, or <sluice/tls/mbedtls.hpp>).
#include <sluice/tls/engine.hpp>
#include <sluice/handles/tls.hpp>
#if defined(SLUICE_WITH_OPENSSL)
#include <sluice/tls/openssl.hpp>
#endif
#if defined(SLUICE_WITH_MBEDTLS)
#include <sluice/tls/mbedtls.hpp>
#endif
#if !defined(SLUICE_NO_GROUP)
#include <sluice/group/loop_group.hpp>
#endif
// Before the protocols, which use it where coroutines are on.
#include <sluice/coro.hpp>
// protocols: sans-I/O, bytes in -> events/bytes out; they never touch a socket. Nested,
// each inside the one it builds on.
#if !defined(SLUICE_NO_PROXY)
#include <sluice/proxy/proxy_protocol.hpp>
#if !defined(SLUICE_NO_HTTP)
#include <sluice/http.hpp>
#if !defined(SLUICE_NO_WEBSOCKET)
#include <sluice/ws.hpp>
#endif
#endif
#endif
