#include "common.hpp"

#include <vector>

using namespace std::chrono_literals;

TEST_CASE("timers fire in deadline order, equal deadlines in scheduling order") {
    test::bounded_loop loop;
    std::vector<int> order;
    std::vector<sluice::timer> timers;
    const int delays_ms[] = {30, 10, 20, 10, 0, 20, 10};
    for (int i = 0; i < 7; ++i) timers.emplace_back(loop);
    for (int i = 0; i < 7; ++i)
        timers[static_cast<std::size_t>(i)].start(std::chrono::milliseconds(delays_ms[i]),
                                                  [&order, i](std::error_code ec) {
                                                      CHECK_FALSE(ec);
                                                      order.push_back(i);
                                                  });
    REQUIRE(loop.run_until([&] { return order.size() == 7; }));
    CHECK(order == std::vector<int>{4, 1, 3, 6, 2, 5, 0});
}

TEST_CASE("a timer never fires before its deadline") {
    test::bounded_loop loop;
    const std::chrono::microseconds delays[] = {1us, 150us, 999us, 1001us, 2500us, 10ms};
    for (auto d : delays) {
        sluice::timer t(loop);
        auto started = std::chrono::steady_clock::now();
        std::chrono::steady_clock::time_point fired{};
        t.start(d, [&](std::error_code) { fired = std::chrono::steady_clock::now(); });
        REQUIRE(loop.run_until([&] { return fired.time_since_epoch().count() != 0; }));
        CHECK(fired - started >= d);
    }
}

TEST_CASE("cancel completes the wait once with operation_aborted; a cancelled timer can restart") {
    test::bounded_loop loop;
    sluice::timer t(loop);
    int calls = 0;
    std::error_code got;
    t.start(50ms, [&](std::error_code ec) {
        ++calls;
        got = ec;
    });
    CHECK(t.pending());
    CHECK(t.cancel());
    CHECK_FALSE(t.cancel());
    CHECK(calls == 0); // never inline
    loop.run_for(100ms);
    CHECK(calls == 1);
    CHECK(got == sluice::error::operation_aborted);
    CHECK(got == std::errc::operation_canceled);

    bool fired = false;
    t.start(1ms, [&](std::error_code ec) { fired = !ec; });
    REQUIRE(loop.run_until([&] { return fired; }));
}

TEST_CASE("restarting a pending timer aborts the first wait") {
    test::bounded_loop loop;
    sluice::timer t(loop);
    std::vector<std::string> log;
    t.start(5ms, [&](std::error_code ec) { log.push_back(ec ? "first:aborted" : "first:fired"); });
    t.start(1ms,
            [&](std::error_code ec) { log.push_back(ec ? "second:aborted" : "second:fired"); });
    REQUIRE(loop.run_until([&] { return log.size() == 2; }));
    CHECK(log == std::vector<std::string>{"first:aborted", "second:fired"});
}

TEST_CASE("repeating timer ticks until cancelled from its own handler") {
    test::bounded_loop loop;
    sluice::timer t(loop);
    int ticks = 0;
    auto start = std::chrono::steady_clock::now();
    t.start(2ms, 2ms, [&](std::error_code ec) {
        if (ec) return;
        if (++ticks == 5) t.cancel();
    });
    REQUIRE(loop.run_until([&] { return !t.pending(); }));
    loop.run_for(10ms);
    CHECK(ticks == 5);
    CHECK(std::chrono::steady_clock::now() - start >= 10ms);
}

TEST_CASE("many timers: heap order holds with random deadlines and cancellations") {
    test::bounded_loop loop;
    constexpr int n = 2000;
    std::vector<sluice::timer> timers;
    timers.reserve(n);
    std::vector<std::pair<int, int>> fired; // (deadline slot, index)
    std::uint32_t x = 12345;
    std::vector<int> slot(n);
    for (int i = 0; i < n; ++i) {
        x = x * 1103515245u + 12345u;
        slot[static_cast<std::size_t>(i)] = static_cast<int>((x >> 8) % 40);
        timers.emplace_back(loop);
    }
    int aborted = 0;
    // One base time, so timers in the same slot have exactly equal deadlines.
    const auto base = std::chrono::steady_clock::now() + 5ms;
    for (int i = 0; i < n; ++i)
        timers[static_cast<std::size_t>(i)].start_at(
            base + std::chrono::milliseconds(slot[static_cast<std::size_t>(i)]),
            [&, i](std::error_code ec) {
                if (ec)
                    ++aborted;
                else
                    fired.emplace_back(slot[static_cast<std::size_t>(i)], i);
            });
    for (int i = 0; i < n; i += 3) timers[static_cast<std::size_t>(i)].cancel();
    REQUIRE(loop.run_until([&] { return static_cast<int>(fired.size()) + aborted == n; }));
    CHECK(aborted == (n + 2) / 3);
    for (std::size_t k = 1; k < fired.size(); ++k) {
        CHECK(fired[k - 1] < fired[k]); // by deadline, then by scheduling order
        if (!(fired[k - 1] < fired[k])) break;
    }
}

TEST_CASE("run() returns when only a timer was left and it fired") {
    test::bounded_loop loop;
    sluice::timer t(loop);
    bool fired = false;
    t.start(1ms, [&](std::error_code) { fired = true; });
    loop.run();
    CHECK(fired);
}
