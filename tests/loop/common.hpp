// Shared helpers for the loop/handle tests. The backend under test comes from the
// SLUICE_BACKEND environment variable, so ctest runs this one binary once per backend.
#pragma once

#include <ostream>
#include <doctest/doctest.h>
#include <sluice.hpp>

#include "../portable.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>

namespace doctest {
template <>
struct StringMaker<std::error_code> {
    static String convert(const std::error_code& ec) {
        return (std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" +
                ec.message() + ")")
            .c_str();
    }
};
} // namespace doctest

namespace test {

inline sluice::backend backend_under_test() {
    sluice::backend b = sluice::backend::automatic;
    const char* env = std::getenv("SLUICE_BACKEND");
    if (env && !sluice::parse_backend(env, b)) FAIL("unknown SLUICE_BACKEND " << env);
    return b;
}

// A loop on the backend under test whose run is bounded: a test that would hang fails.
struct bounded_loop : sluice::loop {
    bounded_loop() : sluice::loop(backend_under_test()) {
        REQUIRE_FALSE(status());
        // Asked for io_uring, the loop may fall back to epoll: the suite would then pass
        // without testing io_uring at all. CMake adds io_uring to the backends only where
        // it works, so a fallback here is a failure.
        if (backend_under_test() != sluice::backend::automatic)
            REQUIRE_MESSAGE(backend_kind() == backend_under_test(), backend_note());
    }
    template <class Pred>
    bool run_until(Pred done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            run_for(std::chrono::milliseconds(50));
        }
        return true;
    }
};

// A listener on 127.0.0.1 with a kernel-chosen port.
inline std::uint16_t listen_loopback(sluice::tcp_listener& l) {
    REQUIRE_FALSE(l.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto ep = l.local_endpoint(ec);
    REQUIRE_FALSE(ec);
    REQUIRE(ep.port() != 0);
    return ep.port();
}

// A connected pair on one loop: `client` dialled, `served` accepted; both kernel buffers
// small, so that a few megabytes are enough to fill them.
struct stream_pair {
    sluice::tcp_listener listener;
    sluice::tcp_stream client;
    sluice::tcp_stream served;

    explicit stream_pair(bounded_loop& loop) : listener(loop), client(loop) {
        auto port = listen_loopback(listener);
        listener.accept([this](std::error_code ec, sluice::tcp_stream s) {
            REQUIRE_FALSE(ec);
            served = std::move(s);
        });
        client.connect(sluice::endpoint::loopback_v4(port),
                       [](std::error_code ec) { REQUIRE_FALSE(ec); });
        REQUIRE(loop.run_until([&] { return client.connected() && served.is_open(); }));
        sluice::platform::set_option(client.native_handle(), SOL_SOCKET, SO_SNDBUF, 32 * 1024);
        sluice::platform::set_option(served.native_handle(), SOL_SOCKET, SO_RCVBUF, 32 * 1024);
    }
};

// Occupies every thread of the process-wide pool, so that work submitted after it (a
// name lookup) waits until release(): resolution made slow, deterministically.
class pool_blocker {
  public:
    pool_blocker() {
        auto& pool = sluice::detail::thread_pool::instance();
        pool.submit([] {}); // starts the threads
        n_ = pool.size();
        for (std::size_t i = 0; i < n_; ++i)
            pool.submit([this] {
                std::unique_lock<std::mutex> lock(m_);
                ++started_;
                cv_.notify_all();
                cv_.wait(lock, [this] { return released_; });
                ++finished_;
                cv_.notify_all();
            });
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [this] { return started_ == n_; });
    }
    void release() {
        std::unique_lock<std::mutex> lock(m_);
        released_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return finished_ == n_; });
    }
    ~pool_blocker() { release(); }

  private:
    std::mutex m_;
    std::condition_variable cv_;
    std::size_t n_ = 0, started_ = 0, finished_ = 0;
    bool released_ = false;
};

// Deterministic pseudo-random bytes (xorshift), so checksums can be compared.
inline std::string pattern(std::size_t n, std::uint32_t seed) {
    std::string s(n, '\0');
    std::uint32_t x = seed ? seed : 1;
    for (auto& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return s;
}

inline std::uint64_t fnv1a(std::uint64_t h, std::string_view data) {
    for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
    return h;
}
inline constexpr std::uint64_t fnv_seed = 1469598103934665603ull;

} // namespace test
