// Coroutine layer: 10,000 concurrent coroutine connections echoing with checksums
// (fewer when the descriptor limit or the backend cannot hold 20,000 sockets).
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

#include <sys/resource.h>
#include <sys/select.h>

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
    rlimit rl{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    std::size_t n = 10000;
    std::size_t fit = rl.rlim_cur > 200 ? (rl.rlim_cur - 200) / 2 : 10;
    test::bounded_loop l;
    if (l.backend_kind() == sluice::backend::select)
        fit = std::min<std::size_t>(fit, (FD_SETSIZE - 64) / 2);
    if (fit < n) {
        MESSAGE("descriptor limit " << rl.rlim_cur << " / backend " << std::string(l.backend_name())
                                    << ": using " << fit << " connections");
        n = fit;
    }
    sluice::tcp_listener listener(l);
    sluice::listen_options opt;
    opt.backlog = 4096;
    REQUIRE_FALSE(listener.listen(sluice::endpoint::loopback_v4(0), opt));
    std::error_code ec;
    auto ep = listener.local_endpoint(ec);
    REQUIRE_FALSE(ec);
    sluice::spawn(l, server(listener, n));

    std::size_t ok = 0, done = 0;
    for (std::size_t i = 0; i < n; ++i) {
        auto seed = static_cast<std::uint32_t>(i + 1);
        std::string msg = test::pattern(200 + seed % 300, seed);
        std::uint64_t want = test::fnv_seed;
        for (int round = 0; round < 3; ++round) want = test::fnv1a(want, msg);
        sluice::spawn(l, client(ep, seed), [&, want](std::uint64_t got) {
            ++done;
            ok += got == want;
        });
    }
    REQUIRE(l.run_until([&] { return done == n; }, std::chrono::seconds(120)));
    CHECK(ok == n);
}
