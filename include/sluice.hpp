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
#include <sluice/group/loop_group.hpp>
// protocols: sans-I/O, bytes in -> events/bytes out; they never touch a socket
#include <sluice/proxy/proxy_protocol.hpp>
#include <sluice/http.hpp>
#include <sluice/ws.hpp>
#include <sluice/coro.hpp>
