// Steady state allocates nothing: coroutine echo round trips, and an HTTP request routed
// through an http::router allocates no more than one served by a plain handler. This file replaces
// the global allocation functions with counting ones (for the whole test binary; they
// only count, then defer to malloc/free).
#include "../loop/common.hpp"

#include <sluice/coro.hpp>
#include <sluice/http.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

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
    std::size_t during = 0, blocks = 0;
    constexpr int warmup = 1000, rounds = 10000;
    auto body = [&]() -> task<int> {
        sluice::tcp_stream s(l);
        if (co_await sluice::connect(s, sluice::endpoint::loopback_v4(port))) co_return 1;
        s.set_nodelay(true);
        char msg[64], back[64];
        for (int i = 0; i < warmup + rounds; ++i) {
            if (i == warmup) {
                during = allocations.load();
                blocks = l.send_pool().allocations();
            }
            for (int k = 0; k < 64; ++k) msg[k] = static_cast<char>(i + k);
            if ((co_await sluice::write(s, sluice::const_buffer(msg, 64))).ec) co_return 2;
            if (!co_await sluice::read_exact(s, back, 64)) co_return 3;
            if (std::memcmp(msg, back, 64) != 0) co_return 4;
        }
        during = allocations.load() - during;
        blocks = l.send_pool().allocations() - blocks;
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
    MESSAGE("allocations during " << rounds << " round trips: " << during);
    CHECK(during == 0);
    // io_uring copies each write into the loop's send pool (malloc, not counted above):
    // its blocks are recycled, none allocated per write.
    CHECK(blocks == 0);
}

namespace {

// Allocations made (client and server together: both run on this thread) while `rounds`
// rounds of 16 pipelined GET /plaintext are answered, after `warmup` rounds; -1 when an
// exchange goes wrong.
long pipelined_allocations(test::bounded_loop& l, std::uint16_t port, int warmup, int rounds) {
    static const std::string one = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    std::string wire;
    for (int i = 0; i < 16; ++i) wire += one;
    long during = 0;
    auto body = [&]() -> task<long> {
        sluice::tcp_stream s(l);
        if (co_await sluice::connect(s, sluice::endpoint::loopback_v4(port))) co_return -1;
        static char in[1 << 16];
        std::size_t per_round = 0; // learnt in the first round: every answer has one size
        for (int i = 0; i < warmup + rounds; ++i) {
            if (i == warmup) during = static_cast<long>(allocations.load());
            if ((co_await sluice::write(s, sluice::const_buffer(wire.data(), wire.size()))).ec)
                co_return -1;
            if (per_round) {
                if (!co_await sluice::read_exact(s, in, per_round)) co_return -1;
            } else {
                std::size_t have = 0, seen = 0;
                while (seen < 16) {
                    auto [ec, n] = co_await sluice::read_some(s, in + have, sizeof in - have);
                    if (ec) co_return -1;
                    have += n;
                    seen = 0;
                    std::string_view all(in, have);
                    for (auto at = all.find("Hello, World!"); at != all.npos;
                         at = all.find("Hello, World!", at + 1))
                        ++seen;
                }
                if (seen != 16 || have % 16) co_return -1;
                per_round = have;
            }
            if (std::string_view(in + per_round - 13, 13) != "Hello, World!") co_return -1;
        }
        co_return static_cast<long>(allocations.load()) - during;
    };
    auto r = sluice::run_until_complete(l, body());
    return r.has_value() ? *r : -1;
}

void plaintext(sluice::http::response& res) {
    res.header("Content-Type", "text/plain").end("Hello, World!");
}

} // namespace

TEST_CASE("alloc: a request through a 50-route router allocates no more than a plain one" *
          doctest::skip(!SLUICE_TEST_COUNT_ALLOCATIONS)) {
    namespace http = sluice::http;
    constexpr int warmup = 200, rounds = 1000;
    long plain = 0, routed = 0;
    {
        test::bounded_loop l;
        http::server srv(l);
        srv.on_request([](const http::request_view&, http::response& res) { plaintext(res); });
        REQUIRE_FALSE(srv.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        plain = pipelined_allocations(l, srv.local_endpoint(ec).port(), warmup, rounds);
    }
    {
        test::bounded_loop l;
        http::server srv(l);
        http::router r; // the shapes of http_hello --routes 50: /plaintext among REST decoys
        auto decoy = [](http::route_request&, http::response& res) { res.end("decoy"); };
        for (int k = 0; k < 48; ++k) {
            const std::string base = "/api/v1/r" + std::to_string(k / 3);
            if (k % 3 == 0) REQUIRE_FALSE(r.get(base + "/{id}", decoy));
            if (k % 3 == 1) REQUIRE_FALSE(r.post(base + "/{id}/items/{item}", decoy));
            if (k % 3 == 2) REQUIRE_FALSE(r.get("/static/r" + std::to_string(k / 3) + "/{p...}", decoy));
        }
        REQUIRE_FALSE(r.get("/plaintext", [](http::route_request&, http::response& res) {
            plaintext(res);
        }));
        r.attach(srv);
        REQUIRE_FALSE(srv.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        routed = pipelined_allocations(l, srv.local_endpoint(ec).port(), warmup, rounds);
    }
    MESSAGE("allocations for " << rounds * 16 << " requests: plain " << plain << ", routed "
                               << routed);
    REQUIRE(plain >= 0);
    REQUIRE(routed >= 0);
    CHECK(routed <= plain);
}
