// sluice — WebSocket (RFC 6455): the sans-I/O handshake and frame codec, and the server and
// client that run them on the loop.
#pragma once

#include <sluice/config.hpp>
#include <sluice/util/base64.hpp>
#include <sluice/util/sha1.hpp>
#include <sluice/util/utf8.hpp>
#include <sluice/ws/error.hpp>
#include <sluice/ws/random.hpp>
#include <sluice/ws/frame.hpp>
#include <sluice/ws/extension.hpp>
#include <sluice/ws/codec.hpp>
#include <sluice/ws/handshake.hpp>
// On the loop: connections, the server (HTTP upgrade), the client, the coroutine face.
#include <sluice/ws/connection.hpp>
#include <sluice/ws/server.hpp>
#include <sluice/ws/client.hpp>
#include <sluice/ws/coro.hpp>
// permessage-deflate needs zlib, so it is opt-in: define SLUICE_WITH_ZLIB (and link -lz), or
// include <sluice/ws/deflate.hpp> yourself.
#if defined(SLUICE_WITH_ZLIB)
#include <sluice/ws/deflate.hpp>
#endif
