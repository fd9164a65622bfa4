// Coroutine layer: 10,000 concurrent coroutine connections echoing with checksums
// (select: FD_SETSIZE bounds it).
//
// On Windows the client side runs on a second thread instead of in a forked child (no
// fork; no per-process descriptor limit to split between two processes either), with
// 1,000 connections (SLUICE_TEST_CONNECTIONS=N for more): every WSAPoll call under wine
// goes through the wine server, so the run grows with the square of the count (2,000
// connections took 23 s, 10,000 would take minutes). select takes SLUICE_FD_SETSIZE - 8
// there (64 - 8 by default).
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

#if !defined(_WIN32)
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/wait.h>
#endif

#include <atomic>
#include <cstdlib>
#include <thread>

using sluice::task;

namespace {

task<void> session(sluice::tcp_stream s) {
    char buf[1024];
    for (;;) {
        auto [ec, n] = co_await sluice::read_some(s, buf, sizeof buf);
        if (ec) break;
        if ((co_await sluice::write(s, sluice::const_buffer(buf, n))).ec) break;
    }
}

task<void> server(sluice::tcp_listener& l, std::size_t count) {
    sluice::loop* lp = co_await sluice::current_loop();
    for (std::size_t i = 0; i < count; ++i) {
        auto r = co_await sluice::accept(l);
        if (!r) co_return;
        sluice::spawn(*lp, session(std::move(r.value)));
    }
}

task<std::uint64_t> client(sluice::endpoint ep, std::uint32_t seed) {
    sluice::tcp_stream s(*co_await sluice::current_loop());
    if (co_await sluice::connect(s, ep)) co_return 0;
    std::string msg = test::pattern(200 + seed % 300, seed);
    std::string back(msg.size(), '\0');
    std::uint64_t h = test::fnv_seed;
    for (int round = 0; round < 3; ++round) {
        if ((co_await sluice::write(s, msg)).ec) co_return 0;
        if (!co_await sluice::read_exact(s, back.data(), back.size())) co_return 0;
        h = test::fnv1a(h, back);
    }
    co_return h;
}

// The client side: its own loop, n coroutine connections; true when every echo came back
// with the right checksum within two minutes.
bool run_clients(const sluice::endpoint& ep, std::size_t n) {
    sluice::loop cl(test::backend_under_test());
    std::size_t ok = 0, done = 0;
    for (std::size_t i = 0; i < n; ++i) {
        auto seed = static_cast<std::uint32_t>(i + 1);
        std::string msg = test::pattern(200 + seed % 300, seed);
        std::uint64_t want = test::fnv_seed;
        for (int round = 0; round < 3; ++round) want = test::fnv1a(want, msg);
        sluice::spawn(cl, client(ep, seed), [&, want](std::uint64_t got) {
            ++done;
            ok += got == want;
        });
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (done < n && std::chrono::steady_clock::now() < deadline)
        cl.run_for(std::chrono::milliseconds(50));
    return ok == n;
}

} // namespace

TEST_CASE("coro: 10,000 concurrent coroutine connections echo with checksums") {
#if defined(_WIN32)
    std::size_t n = 1000;
    if (const char* env = std::getenv("SLUICE_TEST_CONNECTIONS"))
        n = static_cast<std::size_t>(std::strtoul(env, nullptr, 10));
    MESSAGE(n << " connections");
#else
    std::size_t n = 10000;
#endif
#if !defined(_WIN32)
    // Server coroutines here, client coroutines in a forked child with its own loop:
    // each process then needs one descriptor per connection, not two.
    rlimit rl{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
#endif
    test::bounded_loop l;
    if (l.backend_kind() == sluice::backend::select) {
        // select cannot watch more; the others take all 10,000. POSIX: descriptors below
        // FD_SETSIZE, less the process's others. Windows: SLUICE_FD_SETSIZE sockets per
        // loop, less the listener and the loop's wakeup.
#if defined(_WIN32)
        n = SLUICE_FD_SETSIZE - 8;
#else
        n = FD_SETSIZE - 64;
#endif
        MESSAGE("select backend: " << n << " connections (FD_SETSIZE)");
    }
#if !defined(_WIN32)
    REQUIRE(rl.rlim_cur >= n + 200);
#endif
    sluice::tcp_listener listener(l);
    sluice::listen_options opt;
    opt.backlog = 4096;
    REQUIRE_FALSE(listener.listen(sluice::endpoint::loopback_v4(0), opt));
    std::error_code ec;
    auto ep = listener.local_endpoint(ec);
    REQUIRE_FALSE(ec);

#if defined(_WIN32)
    std::atomic<int> clients_result{-1}; // -1 running, 0 every checksum matched, 1 not
    std::thread clients([&] { clients_result = run_clients(ep, n) ? 0 : 1; });
    sluice::spawn(l, server(listener, n));
    bool finished =
        l.run_until([&] { return clients_result.load() != -1; }, std::chrono::seconds(150));
    clients.join(); // bounded: run_clients gives up after two minutes
    REQUIRE(finished);
    CHECK(clients_result.load() == 0); // every client's checksum matched
#else
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) std::_Exit(run_clients(ep, n) ? 0 : 1); // no destructors, no doctest report
    sluice::spawn(l, server(listener, n));
    int status = -1;
    REQUIRE(l.run_until([&] { return ::waitpid(child, &status, WNOHANG) == child; },
                        std::chrono::seconds(150)));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0); // every client's checksum matched
#endif
}
