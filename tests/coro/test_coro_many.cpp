// Coroutine layer: 10,000 concurrent coroutine connections echoing with checksums
// (select: FD_SETSIZE bounds it).
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

#include <sys/resource.h>
#include <sys/select.h>
#include <sys/wait.h>

#include <cstdlib>

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

} // namespace

TEST_CASE("coro: 10,000 concurrent coroutine connections echo with checksums") {
    // Server coroutines here, client coroutines in a forked child with its own loop:
    // each process then needs one descriptor per connection, not two.
    rlimit rl{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    std::size_t n = 10000;
    test::bounded_loop l;
    if (l.backend_kind() == sluice::backend::select) {
        n = FD_SETSIZE - 64; // select cannot watch more; the others take all 10,000
        MESSAGE("select backend: " << n << " connections (FD_SETSIZE)");
    }
    REQUIRE(rl.rlim_cur >= n + 200);
    sluice::tcp_listener listener(l);
    sluice::listen_options opt;
    opt.backlog = 4096;
    REQUIRE_FALSE(listener.listen(sluice::endpoint::loopback_v4(0), opt));
    std::error_code ec;
    auto ep = listener.local_endpoint(ec);
    REQUIRE_FALSE(ec);

    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
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
        std::_Exit(ok == n ? 0 : 1); // no destructors, no doctest report in the child
    }
    sluice::spawn(l, server(listener, n));
    int status = -1;
    REQUIRE(l.run_until([&] { return ::waitpid(child, &status, WNOHANG) == child; },
                        std::chrono::seconds(150)));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0); // every client's checksum matched
}
