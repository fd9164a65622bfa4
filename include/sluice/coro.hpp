// sluice — the C++20 coroutine layer: task<T>, spawn / run_until_complete, awaitable
// I/O over the same handles the callbacks use, cancellation, timeouts, when_all/any.
// Absent (this header is empty) without coroutine support, e.g. in C++17 builds.
#pragma once

#include <sluice/config.hpp>

#if SLUICE_HAS_COROUTINES
#include <sluice/coro/result.hpp>
#include <sluice/coro/token.hpp>
#include <sluice/coro/task.hpp>
#include <sluice/coro/spawn.hpp>
#include <sluice/coro/io.hpp>
#include <sluice/coro/tls.hpp>
#include <sluice/coro/cancel.hpp>
#endif
