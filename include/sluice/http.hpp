// sluice — HTTP/1.1, sans-I/O: parser, serializer, URL, CORS and Forwarded helpers.
// Bytes in, views and bytes out; the server that drives them lives on the loop.
#pragma once

#include <sluice/http/error.hpp>
#include <sluice/http/message.hpp>
#include <sluice/http/parser.hpp>
#include <sluice/http/serializer.hpp>
#include <sluice/http/url.hpp>
#include <sluice/http/cors.hpp>
#include <sluice/http/forwarded.hpp>
// on the loop
#include <sluice/http/server.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/pool.hpp>
#include <sluice/http/server_coro.hpp>
#include <sluice/http/router.hpp>
#include <sluice/http/static_files.hpp>
