// sluice — WebSocket (RFC 6455): handshake, frame codec, and their helpers.
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
