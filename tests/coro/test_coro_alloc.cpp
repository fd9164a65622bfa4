// Coroutine layer: steady-state echo round trips allocate nothing. This file replaces
// the global allocation functions with counting ones (for the whole test binary; they
// only count, then defer to malloc/free).
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(_WIN32)
#include <malloc.h> // _aligned_malloc, _aligned_free
#endif

// ThreadSanitizer's runtime defines the allocation functions itself (a second definition
// does not link), so under TSan this file counts nothing and its test is skipped.
#if defined(__SANITIZE_THREAD__)
#define SLUICE_TEST_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLUICE_TEST_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef SLUICE_TEST_COUNT_ALLOCATIONS
#define SLUICE_TEST_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<std::size_t> allocations{0};
} // namespace

#if SLUICE_TEST_COUNT_ALLOCATIONS
namespace {

void* counted_alloc(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = std::malloc(n ? n : 1);
    if (!p) std::abort();
    return p;
}
// Windows' C runtime has no aligned_alloc; its aligned blocks come from _aligned_malloc
// and must go back through _aligned_free.
void* counted_aligned(std::size_t n, std::align_val_t a) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    std::size_t al = static_cast<std::size_t>(a);
#if defined(_WIN32)
    void* p = _aligned_malloc(n ? n : 1, al);
#else
    void* p = std::aligned_alloc(al, (n + al - 1) / al * al);
#endif
    if (!p) std::abort();
    return p;
}
void aligned_free(void* p) noexcept {
#if defined(_WIN32)
    _aligned_free(p);
#else
    std::free(p);
#endif
}
} // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { aligned_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { aligned_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { aligned_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { aligned_free(p); }
#endif

using sluice::task;

namespace {

task<void> echo_once(sluice::tcp_listener& l) {
    auto r = co_await sluice::accept(l);
    if (!r) co_return;
    char buf[256];
    for (;;) {
        auto [ec, n] = co_await sluice::read_some(r.value, buf, sizeof buf);
        if (ec) break;
        if ((co_await sluice::write(r.value, sluice::const_buffer(buf, n))).ec) break;
    }
}

} // namespace

TEST_CASE("coro alloc: 10,000 echo round trips allocate nothing in steady state" *
          doctest::skip(!SLUICE_TEST_COUNT_ALLOCATIONS)) {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto port = test::listen_loopback(listener);
    sluice::spawn(l, echo_once(listener));
    std::size_t during = 0;
    constexpr int warmup = 1000, rounds = 10000;
    auto body = [&]() -> task<int> {
        sluice::tcp_stream s(l);
        if (co_await sluice::connect(s, sluice::endpoint::loopback_v4(port))) co_return 1;
        s.set_nodelay(true);
        char msg[64], back[64];
        for (int i = 0; i < warmup + rounds; ++i) {
            if (i == warmup) during = allocations.load();
            for (int k = 0; k < 64; ++k) msg[k] = static_cast<char>(i + k);
            if ((co_await sluice::write(s, sluice::const_buffer(msg, 64))).ec) co_return 2;
            if (!co_await sluice::read_exact(s, back, 64)) co_return 3;
            if (std::memcmp(msg, back, 64) != 0) co_return 4;
        }
        during = allocations.load() - during;
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
    MESSAGE("allocations during " << rounds << " round trips: " << during);
    CHECK(during == 0);
}
