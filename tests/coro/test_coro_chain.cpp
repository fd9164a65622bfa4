// Coroutine layer: a chain's shared context (hop moves the whole chain) and exactly-once
// resumption (docs/guide/lifetimes.md, rules 3, 4 and 8). The threaded cases here are the
// ones tools/test.sh runs under ThreadSanitizer too.
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

#include <atomic>
#include <coroutine>
#include <memory>
#include <thread>

using namespace std::chrono_literals;
using sluice::task;

namespace {

const std::error_code aborted = make_error_code(sluice::error::operation_aborted);
const std::error_code timed_out = make_error_code(sluice::error::timed_out);
const std::error_code refused = std::make_error_code(std::errc::operation_not_permitted);

// clang treats pthread_self() as const and may reuse its value across a co_await that
// changed threads; a call with a side effect cannot be reused.
[[gnu::noinline]] std::thread::id current_thread() {
    static std::atomic<int> touch{0};
    touch.fetch_add(1, std::memory_order_relaxed);
    return std::this_thread::get_id();
}

// A loop running on a thread of its own until stop_and_join().
struct loop_thread {
    sluice::loop l{test::backend_under_test()};
    sluice::loop::keep_alive_guard guard{l.keep_alive()};
    std::thread t{[this] { l.run(); }};
    std::thread::id id() const { return t.get_id(); }
    void stop_and_join() {
        if (!t.joinable()) return;
        guard.reset();
        l.post([this] { l.stop(); });
        t.join();
    }
    ~loop_thread() { stop_and_join(); }
};

// The child task that hops: the frame that moves is not the one that looks afterwards.
task<std::error_code> hop_child(sluice::loop& target) { co_return co_await sluice::hop(target); }
task<std::error_code> hop_grandchild(sluice::loop& target) { co_return co_await hop_child(target); }

// Counts how often it is destroyed: one per frame that held it.
struct life {
    int* destroyed;
    explicit life(int* d) : destroyed(d) {}
    life(life&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
    ~life() {
        if (destroyed) ++*destroyed;
    }
};

} // namespace

// Bug 5 of issue #16: every frame kept its own copy of the loop pointer, so after a child
// hopped, its parent ran on the target thread with the home loop's timers and pool.
TEST_CASE("coro chain: after a child hops, its parent runs on the target loop") {
    test::bounded_loop home;
    loop_thread other;
    auto home_guard = home.keep_alive(); // home has no work of its own while the chain is away
    const auto home_id = std::this_thread::get_id();
    auto parent = [&]() -> task<int> {
        // Two frames below this one: the hop happens in the innermost.
        if (co_await hop_grandchild(other.l)) co_return 1;
        if (co_await sluice::current_loop() != &other.l) co_return 2;
        if (current_thread() != other.id()) co_return 3;
        // sleep_for(d) takes the chain's loop: its timer completes on the target thread.
        if (co_await sluice::sleep_for(1ms)) co_return 4;
        if (current_thread() != other.id()) co_return 5;
        // offload(f) resumes on the chain's loop.
        std::thread::id worker;
        int v = co_await sluice::offload([&] {
            worker = std::this_thread::get_id();
            return 7;
        });
        if (v != 7 || worker == other.id() || worker == home_id) co_return 6;
        if (current_thread() != other.id()) co_return 7;
        // with_timeout's timer lives in the chain's loop: its expiry completes there.
        auto ec = co_await sluice::with_timeout(sluice::sleep_for(10s), 1ms);
        if (ec != timed_out) co_return 8;
        if (current_thread() != other.id()) co_return 9;
        if (co_await sluice::with_timeout(sluice::sleep_for(1ms), 10s)) co_return 10;
        if (current_thread() != other.id()) co_return 11;
        // Back home, the same way: a child hops, the parent follows.
        if (co_await hop_child(home)) co_return 12;
        if (co_await sluice::current_loop() != &home) co_return 13;
        if (current_thread() != home_id) co_return 14;
        if (co_await sluice::sleep_for(1ms)) co_return 15;
        if (current_thread() != home_id) co_return 16;
        co_return 0;
    };
    std::optional<int> r;
    sluice::spawn(home, parent(), [&](int v) {
        r = v;
        home_guard.reset();
    });
    REQUIRE(home.run_until([&] { return r.has_value(); }));
    other.stop_and_join();
    CHECK(*r == 0);
}

// The hop is posted once the home thread has left the frames that started it, so the
// frames above the hopping one always continue on the target thread, never on home.
TEST_CASE("coro chain: 200 hops from nested frames always continue on the target thread") {
    test::bounded_loop home;
    loop_thread other;
    auto home_guard = home.keep_alive();
    auto parent = [&]() -> task<int> {
        for (int i = 0; i < 100; ++i) {
            if (co_await hop_child(other.l)) co_return 1;
            if (current_thread() != other.id()) co_return 2;
            if (co_await hop_child(home)) co_return 3;
            if (current_thread() == other.id()) co_return 4;
        }
        co_return 0;
    };
    std::optional<int> r;
    sluice::spawn(home, parent(), [&](int v) {
        r = v;
        home_guard.reset();
    });
    REQUIRE(home.run_until([&] { return r.has_value(); }));
    other.stop_and_join();
    CHECK(*r == 0);
}

// Inside when_all / when_any children the chain's frames run side by side on one loop,
// and with_timeout / with_cancellation / a spawn token are bound to the loop they started
// on: moving the chain there would race, so hop refuses and the frame stays home.
TEST_CASE("coro chain: hop refuses inside concurrent and loop-bound scopes") {
    test::bounded_loop home;
    loop_thread other;
    auto home_guard = home.keep_alive();
    const auto home_id = std::this_thread::get_id();
    auto stays_home = [&]() -> task<int> {
        std::error_code ec = co_await hop_child(other.l);
        if (ec != refused) co_return 1;
        if (current_thread() != home_id) co_return 2;
        if (co_await sluice::current_loop() != &home) co_return 3;
        co_return 0;
    };
    auto nap = [&]() -> task<int> {
        co_await sluice::sleep_for(1ms);
        co_return 0;
    };
    auto body = [&]() -> task<int> {
        auto [a, b] = co_await sluice::when_all(stays_home(), nap());
        if (a || b) co_return 10 + a;
        auto any = co_await sluice::when_any(stays_home(), nap());
        if (any.index() != 0 || std::get<0>(any) != 0) co_return 20 + std::get<0>(any);
        int t = co_await sluice::with_timeout(stays_home(), 10s);
        if (t) co_return 30 + t;
        sluice::cancellation_source src;
        int c = co_await sluice::with_cancellation(stays_home(), src.token());
        if (c) co_return 40 + c;
        // Outside those scopes the same chain may hop (and comes back).
        if (co_await hop_child(other.l)) co_return 50;
        if (current_thread() != other.id()) co_return 51;
        if (co_await hop_child(home)) co_return 52;
        co_return 0;
    };
    std::optional<int> r;
    sluice::spawn(home, body(), [&](int v) { r = v; });
    REQUIRE(home.run_until([&] { return r.has_value(); }));
    CHECK(*r == 0);

    // A chain spawned with a token listens to a source that belongs to the home thread.
    sluice::cancellation_source src;
    std::optional<int> t;
    sluice::spawn(
        home, stays_home(), [&](int v) { t = v; }, src.token());
    REQUIRE(home.run_until([&] { return t.has_value(); }));
    CHECK(*t == 0);
    home_guard.reset();
    other.stop_and_join();
}

// run_until_complete returns empty when its loop runs out of work while the chain is on
// another loop; the loop may then be destroyed, and the chain's completion, running later
// on the other loop, must not touch it.
TEST_CASE("coro chain: run_until_complete's completion after it returned does not touch its loop") {
    loop_thread other;
    std::atomic<bool> ending{false};
    auto away = [&]() -> task<int> {
        if (co_await hop_child(other.l)) co_return -1;
        co_await sluice::sleep_for(other.l, 30ms);
        ending = true;
        co_return 7;
    };
    {
        auto home = std::make_unique<sluice::loop>(test::backend_under_test());
        std::optional<int> r = sluice::run_until_complete(*home, away());
        CHECK_FALSE(r.has_value()); // home ran out of work: the chain is on `other`
    }                               // home is gone; the chain is still sleeping on `other`
    for (int i = 0; i < 400 && !ending.load(); ++i) std::this_thread::sleep_for(5ms);
    CHECK(ending.load());
    // The completion runs right after `ending` is set, on other's thread, before the post.
    other.stop_and_join();
}

namespace {

// A coroutine type of the user's, not sluice's: its owner destroys its frame.
struct owned_coro {
    struct promise_type {
        owned_coro get_return_object() noexcept {
            return owned_coro{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_always final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::abort(); }
    };
    std::coroutine_handle<promise_type> h;
    explicit owned_coro(std::coroutine_handle<promise_type> x = {}) noexcept : h(x) {}
    owned_coro(owned_coro&& o) noexcept : h(std::exchange(o.h, {})) {}
    owned_coro& operator=(owned_coro&& o) noexcept {
        std::swap(h, o.h);
        return *this;
    }
    ~owned_coro() {
        if (h) h.destroy();
    }
};

owned_coro sleep_outside_a_chain(sluice::loop& l, int* destroyed, bool* resumed) {
    life guard(destroyed);
    co_await sluice::sleep_for(l, 10s);
    *resumed = true;
}

owned_coro task_outside_a_chain(sluice::loop& l, int* destroyed, bool* resumed) {
    life guard(destroyed);
    auto inner = [](sluice::loop& lp, int* d) -> task<void> {
        life g(d);
        co_await sluice::sleep_for(lp, 10s);
    };
    co_await inner(l, destroyed);
    *resumed = true;
}

} // namespace

// Outside a spawned chain nothing tells the library who owns the awaiting coroutine:
// ~loop used to destroy the innermost frame, and its owner then destroyed it again.
TEST_CASE("coro chain: ~loop leaves a coroutine outside any chain to its owner") {
    int destroyed = 0;
    bool resumed = false;
    {
        owned_coro a, b;
        {
            test::bounded_loop l;
            a = sleep_outside_a_chain(l, &destroyed, &resumed);
            b = task_outside_a_chain(l, &destroyed, &resumed);
            l.run_for(2ms);
        }
        CHECK(destroyed == 0); // still suspended, owned by a and b
    }
    CHECK(destroyed == 3); // each frame once, by its owner
    CHECK_FALSE(resumed);
}

// A spawned task that never started (the loop died first) is destroyed with its
// arguments exactly once, and its completion is not called (rule 4).
TEST_CASE("coro chain: a chain spawned on a loop destroyed before it starts") {
    int destroyed = 0;
    int completed = 0;
    auto body = [](life, sluice::tcp_stream s) -> task<void> {
        char buf[1];
        co_await sluice::read_some(s, buf, 1);
    };
    {
        test::bounded_loop l;
        sluice::spawn(l, body(life(&destroyed), sluice::tcp_stream(l)), [&] { ++completed; });
        // From another thread too.
        auto sleeper = [](life) -> task<void> { co_await sluice::sleep_for(10s); };
        std::thread t([&] { sluice::spawn(l, sleeper(life(&destroyed)), [&] { ++completed; }); });
        t.join();
    }
    CHECK(destroyed == 2);
    CHECK(completed == 0);

    // A chain suspended in a hop whose target dies before running it: destroyed there.
    destroyed = 0;
    {
        test::bounded_loop home;
        auto target = std::make_unique<sluice::loop>(test::backend_under_test());
        auto hopper = [&](life) -> task<void> { (void)co_await sluice::hop(*target); };
        sluice::spawn(home, hopper(life(&destroyed)), [&] { ++completed; });
        home.run_for(5ms); // posts the frame to `target`, which never runs
        CHECK(destroyed == 0);
        target.reset();
        CHECK(destroyed == 1);
    }
    CHECK(destroyed == 1);
    CHECK(completed == 0);
}

// when_any cancels its losers: each loser's pending await completes exactly once, with
// operation_aborted, whatever it waits on; the winner's value comes back once.
TEST_CASE("coro chain: when_any losers complete exactly once") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto ep = sluice::endpoint::loopback_v4(test::listen_loopback(listener));
    sluice::udp_socket u(l);
    REQUIRE_FALSE(u.bind(sluice::endpoint::loopback_v4(0)));
    int resumed[6] = {};
    std::error_code ecs[6];
    auto body = [&]() -> task<int> {
        sluice::tcp_stream c(l);
        if (co_await sluice::connect(c, ep)) co_return 1;
        auto served = co_await sluice::accept(listener);
        if (!served) co_return 2;
        auto reader = [&]() -> task<int> {
            char buf[8];
            ecs[0] = (co_await sluice::read_some(c, buf, sizeof buf)).ec;
            ++resumed[0];
            co_return 0;
        };
        auto acceptor = [&]() -> task<int> {
            ecs[1] = (co_await sluice::accept(listener)).ec;
            ++resumed[1];
            co_return 1;
        };
        auto receiver = [&]() -> task<int> {
            char buf[8];
            ecs[2] = (co_await sluice::recv_from(u, sluice::mutable_buffer(buf, 8))).ec;
            ++resumed[2];
            co_return 2;
        };
        auto scoped = [&]() -> task<int> {
            ecs[3] = co_await sluice::with_timeout(sluice::sleep_for(10s), 10s);
            ++resumed[3];
            co_return 3;
        };
        auto nested = [&]() -> task<int> {
            auto s = [&]() -> task<std::error_code> { co_return co_await sluice::sleep_for(10s); };
            auto [x, y] = co_await sluice::when_all(s(), s());
            ecs[4] = x == y ? x : std::error_code{};
            ++resumed[4];
            co_return 4;
        };
        auto winner = [&]() -> task<int> {
            ecs[5] = co_await sluice::sleep_for(2ms);
            ++resumed[5];
            co_return 5;
        };
        auto v = co_await sluice::when_any(reader(), acceptor(), receiver(), scoped(), nested(),
                                           winner());
        if (v.index() != 5 || std::get<5>(v) != 5) co_return 3;
        co_return 0;
    };
    int completions = 0;
    std::optional<int> r;
    sluice::spawn(l, body(), [&](int v) {
        ++completions;
        r = v;
    });
    REQUIRE(l.run_until([&] { return r.has_value(); }));
    l.run_for(20ms); // nothing may arrive late
    CHECK(*r == 0);
    CHECK(completions == 1);
    for (int i = 0; i < 6; ++i) {
        CAPTURE(i);
        CHECK(resumed[i] == 1);
        CHECK(ecs[i] == (i == 5 ? std::error_code{} : aborted));
    }
}

// The deadline and the operation's own completion due in the same turn: whichever comes
// first wins, the other finds nothing to do, and the chain is resumed once.
TEST_CASE("coro chain: with_timeout racing a completion resumes once") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto ep = sluice::endpoint::loopback_v4(test::listen_loopback(listener));
    int resumes = 0, ok = 0, expired = 0, other = 0;
    auto body = [&]() -> task<int> {
        sluice::tcp_stream c(l);
        if (co_await sluice::connect(c, ep)) co_return 1;
        auto served = co_await sluice::accept(listener);
        if (!served) co_return 2;
        sluice::timer t(l);
        for (int i = 0; i < 200; ++i) {
            // A write the kernel takes at once completes from the queue; the deadline of
            // zero is due in the same turn.
            auto w = co_await sluice::with_timeout(sluice::write(c, "x"), 0ms);
            ++resumes;
            if (!w.ec)
                ++ok;
            else if (w.ec == timed_out)
                ++expired;
            else
                ++other;
            // Two timers due in the same turn: the sleep's and the scope's, the scope's
            // first (the sleep's deadline rounds up) or, every other time, the sleep's.
            auto when = sluice::loop::clock::now() + 100us;
            auto s =
                co_await sluice::with_timeout(sluice::sleep_until(t, when), i % 2 ? 100us : 150us);
            ++resumes;
            if (!s)
                ++ok;
            else if (s == timed_out)
                ++expired;
            else
                ++other;
        }
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
    CHECK(resumes == 400);
    CHECK(ok + expired == 400);
    CHECK(other == 0);
    MESSAGE("completed " << ok << ", timed out " << expired);
}

// A cancellation that arrives after the operation's completion is queued, or after the
// chain ended, changes nothing that already happened and resumes nothing twice.
TEST_CASE("coro chain: cancellation after completion is ignored") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto ep = sluice::endpoint::loopback_v4(test::listen_loopback(listener));
    sluice::cancellation_source src;
    std::error_code wrote, slept;
    int resumes = 0;
    auto body = [&]() -> task<void> {
        sluice::tcp_stream c(l);
        co_await sluice::connect(c, ep);
        auto served = co_await sluice::accept(listener);
        // The peer's read of the byte cancels: its bytes are there only once the write has
        // reached the kernel, so its completion is queued by then, but it runs later (queued
        // completions run after the turn's events). Not a timer due in the next turn: on
        // io_uring the write reaches the kernel only with the next wait, and a timer that
        // fires before it withdraws the write, as the contract allows.
        served.value.read_start([&](std::error_code ec, std::string_view) {
            if (!ec) src.cancel();
        });
        wrote = (co_await sluice::write(c, "x")).ec;
        ++resumes;
        slept = co_await sluice::sleep_for(10s); // starts cancelled
        ++resumes;
    };
    int completions = 0;
    sluice::spawn(
        l, body(), [&] { ++completions; }, src.token());
    REQUIRE(l.run_until([&] { return completions == 1; }));
    src.cancel(); // after the end: nothing listens
    l.run_for(5ms);
    CHECK(completions == 1);
    CHECK(resumes == 2);
    CHECK_FALSE(wrote);
    CHECK(slept == aborted);

    // Cancelled from the completion itself.
    sluice::cancellation_source src2;
    int done2 = 0;
    auto quick = [&]() -> task<int> {
        co_await sluice::sleep_for(1ms);
        co_return 1;
    };
    sluice::spawn(
        l, quick(),
        [&](int) {
            ++done2;
            src2.cancel();
        },
        src2.token());
    REQUIRE(l.run_until([&] { return done2 == 1; }));
    l.run_for(5ms);
    CHECK(done2 == 1);
}
