// Coroutine layer: tasks, spawn, run_until_complete, when_all / when_any, cancellation
// scopes without I/O.
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

#include <thread>

using namespace std::chrono_literals;
using sluice::task;

namespace {

task<int> value(int v) { co_return v; }
task<void> nothing() { co_return; }

task<long> sum_sync(int n) {
    long s = 0;
    for (int i = 0; i < n; ++i) s += co_await value(1);
    co_return s;
}

task<long> deep(int depth) {
    if (depth == 0) co_return 0;
    co_return 1 + co_await deep(depth - 1);
}

task<std::error_code> nap(sluice::loop& l, std::chrono::milliseconds d, int* order, int id) {
    auto ec = co_await sluice::sleep_for(l, d);
    if (!ec && order) *order = *order * 10 + id;
    co_return ec;
}

// clang treats pthread_self() as const and may reuse its value across a co_await that
// changed threads; a call with a side effect cannot be reused.
[[gnu::noinline]] std::thread::id current_thread() {
    static volatile int touch;
    touch = touch + 1;
    return std::this_thread::get_id();
}

} // namespace

TEST_CASE("coro: task returns values and void") {
    test::bounded_loop l;
    auto r = sluice::run_until_complete(l, value(42));
    REQUIRE(r.has_value());
    CHECK(*r == 42);
    CHECK(sluice::run_until_complete(l, nothing()));
}

TEST_CASE("coro: 1,000,000 synchronous awaits in one coroutine do not grow the stack") {
    test::bounded_loop l;
    auto r = sluice::run_until_complete(l, sum_sync(1000000));
    REQUIRE(r.has_value());
    CHECK(*r == 1000000);
}

// Nesting (a task awaiting a task awaiting ...) uses stack in proportion to the depth
// while the chain goes down; only sequential awaits are flat.
TEST_CASE("coro: a 10,000-deep chain of nested tasks") {
    test::bounded_loop l;
    auto r = sluice::run_until_complete(l, deep(10000));
    REQUIRE(r.has_value());
    CHECK(*r == 10000);
}

TEST_CASE("coro: spawn runs detached and calls the completion on the loop thread") {
    test::bounded_loop l;
    int got = 0;
    bool void_done = false;
    sluice::spawn(l, value(7), [&](int v) { got = v; });
    sluice::spawn(l, nothing(), [&] { void_done = true; });
    CHECK(got == 0); // never inline
    REQUIRE(l.run_until([&] { return got == 7 && void_done; }));
}

TEST_CASE("coro: spawn from another thread") {
    test::bounded_loop l;
    auto guard = l.keep_alive();
    std::atomic<int> got{0};
    std::thread t([&] { sluice::spawn(l, value(5), [&](int v) { got = v; }); });
    REQUIRE(l.run_until([&] { return got.load() == 5; }));
    t.join();
}

TEST_CASE("coro: sleep_for, sleep_until and a reusable timer") {
    test::bounded_loop l;
    auto body = [&]() -> task<int> {
        auto t0 = sluice::loop::clock::now();
        if (co_await sluice::sleep_for(l, 5ms)) co_return 1;
        if (sluice::loop::clock::now() - t0 < 5ms) co_return 2;
        sluice::timer t(l);
        for (int i = 0; i < 3; ++i)
            if (co_await sluice::sleep_for(t, 1ms)) co_return 3;
        auto until = sluice::loop::clock::now() + 2ms;
        if (co_await sluice::sleep_until(t, until)) co_return 4;
        if (sluice::loop::clock::now() < until) co_return 5;
        if (co_await sluice::sleep_for(2ms)) co_return 6; // the chain's loop
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
}

TEST_CASE("coro: offload runs on the pool and resumes on the loop thread") {
    test::bounded_loop l;
    auto body = [&]() -> task<int> {
        auto loop_thread = std::this_thread::get_id();
        std::thread::id worker;
        int v = co_await sluice::offload(l, [&] {
            worker = std::this_thread::get_id();
            return 21;
        });
        if (worker == loop_thread) co_return -1;
        if (std::this_thread::get_id() != loop_thread) co_return -2;
        co_await sluice::offload([] {}); // void, chain's loop
        co_return v * 2;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 42);
}

TEST_CASE("coro: hop to another loop's thread and back") {
    test::bounded_loop a;
    sluice::loop b(test::backend_under_test());
    auto guard = b.keep_alive();
    std::thread tb([&] { b.run(); });
    auto body = [&]() -> task<bool> {
        auto home = current_thread();
        if (co_await sluice::hop(b)) co_return false;
        bool there = current_thread() == tb.get_id();
        if (co_await sluice::hop(a)) co_return false;
        co_return there&& current_thread() == home;
    };
    auto home_guard = a.keep_alive(); // a has no work of its own while the task is on b
    auto tick = [&]() -> task<void> { co_await sluice::sleep_for(a, 1ms); };
    sluice::spawn(a, tick());
    std::optional<bool> r;
    sluice::spawn(a, body(), [&](bool v) {
        r = v;
        home_guard.reset();
    });
    REQUIRE(a.run_until([&] { return r.has_value(); }));
    guard.reset();
    b.post([&] { b.stop(); });
    tb.join();
    REQUIRE(r.has_value());
    CHECK(*r);
}

TEST_CASE("coro: when_all waits for every task") {
    test::bounded_loop l;
    int order = 0;
    auto body = [&]() -> task<int> {
        auto [a, b, c, d] = co_await sluice::when_all(nap(l, 20ms, &order, 1),
                                                      nap(l, 1ms, &order, 2), value(3), nothing());
        (void)d;
        co_return (a ? 100 : 0) + (b ? 100 : 0) + c;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 3);
    CHECK(order == 21);
}

TEST_CASE("coro: when_any returns the first and cancels and awaits the losers") {
    test::bounded_loop l;
    int order = 0;
    std::error_code loser_ec;
    auto slow = [&]() -> task<int> {
        loser_ec = co_await sluice::sleep_for(l, 10s);
        co_return 1;
    };
    auto body = [&]() -> task<std::size_t> {
        auto v = co_await sluice::when_any(slow(), nap(l, 1ms, &order, 2));
        // The loser has finished (with operation_aborted) before we get here.
        if (loser_ec != make_error_code(sluice::error::operation_aborted)) co_return 99;
        co_return v.index();
    };
    auto t0 = std::chrono::steady_clock::now();
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 1);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

TEST_CASE("coro: when_any with a synchronously finishing task") {
    test::bounded_loop l;
    auto body = [&]() -> task<std::size_t> {
        auto v = co_await sluice::when_any(nap(l, 10s, nullptr, 0), value(9));
        co_return v.index() * 100 + static_cast<std::size_t>(std::get<1>(v));
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 109);
}

TEST_CASE("coro: with_timeout on a sleep and on a task") {
    test::bounded_loop l;
    auto body = [&]() -> task<int> {
        auto ec = co_await sluice::with_timeout(sluice::sleep_for(l, 10s), 2ms);
        if (ec != make_error_code(sluice::error::timed_out)) co_return 1;
        auto ec2 = co_await sluice::with_timeout(nap(l, 10s, nullptr, 0), 2ms);
        if (ec2 != make_error_code(sluice::error::timed_out)) co_return 2;
        auto ok = co_await sluice::with_timeout(nap(l, 1ms, nullptr, 0), 10s);
        if (ok) co_return 3;
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
}

TEST_CASE("coro: a cancellation token cancels a spawned chain and nested scopes") {
    test::bounded_loop l;
    sluice::cancellation_source src;
    std::error_code first, second, nested;
    bool done = false;
    auto body = [&]() -> task<void> {
        first = co_await sluice::sleep_for(l, 10s);
        second = co_await sluice::sleep_for(l, 10s); // starts after the cancel: aborted at once
        nested = co_await sluice::with_timeout(nap(l, 10s, nullptr, 0), 10s);
    };
    sluice::spawn(
        l, body(), [&] { done = true; }, src.token());
    sluice::timer t(l);
    t.start(2ms, [&](std::error_code) { src.cancel(); });
    REQUIRE(l.run_until([&] { return done; }));
    auto aborted = make_error_code(sluice::error::operation_aborted);
    CHECK(first == aborted);
    CHECK(second == aborted);
    CHECK(nested == aborted);
}

TEST_CASE("coro: with_cancellation and cancellation_registration") {
    test::bounded_loop l;
    sluice::cancellation_source src;
    int called = 0;
    {
        sluice::cancellation_registration reg(src.token(), [&] { ++called; });
        auto body = [&]() -> task<std::error_code> {
            co_return co_await sluice::with_cancellation(sluice::sleep_for(l, 10s), src.token());
        };
        sluice::timer t(l);
        t.start(1ms, [&](std::error_code) { src.cancel(); });
        auto r = sluice::run_until_complete(l, body());
        REQUIRE(r.has_value());
        CHECK(*r == make_error_code(sluice::error::operation_aborted));
    }
    CHECK(called == 1);
    src.cancel();
    CHECK(called == 1);
    sluice::cancellation_registration late(src.token(), [&] { ++called; });
    CHECK(called == 2);
}

TEST_CASE("coro: destroying a loop destroys suspended chains (no leak, no completion)") {
    bool completed = false;
    {
        test::bounded_loop l;
        auto body = [&]() -> task<void> {
            sluice::timer t(l);
            co_await sluice::when_all(nap(l, 10s, nullptr, 0), nap(l, 10s, nullptr, 0));
            co_await sluice::with_timeout(sluice::sleep_for(t, 10s), 10s);
        };
        sluice::spawn(l, body(), [&] { completed = true; });
        sluice::spawn(l, nothing(), [] {}); // posted, never started
        l.run_for(5ms);
        sluice::spawn(l, body(), [&] { completed = true; });
    }
    CHECK_FALSE(completed);
}

TEST_CASE("coro: loop shutdown resumes suspended chains with operation_aborted") {
    test::bounded_loop l;
    std::error_code got;
    bool completed = false;
    auto body = [&]() -> task<void> { got = co_await sluice::sleep_for(l, 10s); };
    sluice::spawn(l, body(), [&] { completed = true; });
    l.run_for(5ms);
    l.shutdown(1s);
    CHECK(completed);
    CHECK(got == make_error_code(sluice::error::operation_aborted));
}

#if SLUICE_HAS_EXCEPTIONS
TEST_CASE("coro: an exception escaping a task is rethrown at its co_await") {
    test::bounded_loop l;
    auto thrower = []() -> task<int> {
        throw std::runtime_error("boom");
        co_return 1;
    };
    auto body = [&]() -> task<int> {
        try {
            co_await thrower();
        } catch (const std::runtime_error&) {
            co_return 1;
        }
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 1);
}
#endif
