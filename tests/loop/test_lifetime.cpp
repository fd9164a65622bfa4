#include "common.hpp"

#include <atomic>
#include <memory>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("shutdown(grace) flushes queued writes, then closes every handle") {
    test::bounded_loop loop;
    // The receiving side lives on its own loop and thread, so it keeps reading while
    // the sending loop is inside shutdown().
    sluice::loop peer_loop(test::backend_under_test());
    sluice::tcp_listener listener(peer_loop);
    auto port = test::listen_loopback(listener);
    std::size_t received = 0;
    bool peer_eof = false;
    sluice::tcp_stream peer;
    std::atomic<bool> accepted{false};
    auto peer_alive = peer_loop.keep_alive(); // until the peer has seen EOF
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        peer = std::move(s);
        accepted = true;
    });
    auto start_reading = [&] {
        peer.read_start([&](std::error_code ec, std::string_view d) {
            if (ec) {
                peer_eof = true;
                peer.close();
                peer_alive.reset();
                return;
            }
            received += d.size();
        });
    };
    std::thread peer_thread([&] { peer_loop.run_for(30s); });

    sluice::tcp_stream writer(loop);
    writer.connect(sluice::endpoint::loopback_v4(port),
                   [](std::error_code ec) { REQUIRE_FALSE(ec); });
    REQUIRE(loop.run_until([&] { return writer.connected() && accepted; }));
    sluice::timer idle_timer(loop);
    std::error_code timer_ec;
    idle_timer.start(1h, [&](std::error_code ec) { timer_ec = ec; });
    constexpr std::size_t total = 16u << 20;
    int write_done = 0;
    writer.write(std::string(total, 'g'), [&](std::error_code ec, std::size_t n) {
        CHECK_FALSE(ec);
        CHECK(n == total);
        ++write_done;
    });
    CHECK(writer.buffered_amount() > 0);
    peer_loop.post(start_reading); // the peer reads only once the bytes are queued
    loop.shutdown(10s);
    CHECK(write_done == 1);
    CHECK(timer_ec == sluice::error::operation_aborted);
    CHECK_FALSE(writer.is_open());
    CHECK_FALSE(idle_timer.pending());
    peer_thread.join();
    CHECK(received == total);
    CHECK(peer_eof);
}

TEST_CASE("shutdown with zero grace aborts queued writes") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream idle_peer;
    listener.accept([&](std::error_code, sluice::tcp_stream s) { idle_peer = std::move(s); });
    sluice::tcp_stream writer(loop);
    writer.connect(sluice::endpoint::loopback_v4(port), [](std::error_code) {});
    REQUIRE(loop.run_until([&] { return writer.connected() && idle_peer.is_open(); }));
    std::error_code write_ec;
    writer.write(std::string(32u << 20, 'h'),
                 [&](std::error_code ec, std::size_t) { write_ec = ec; });
    loop.shutdown(0ms);
    CHECK(write_ec == sluice::error::operation_aborted);
    CHECK_FALSE(idle_peer.is_open());
}

TEST_CASE(
    "destroying a loop with live handles destroys pending handlers uncalled and leaks nothing") {
    auto token = std::make_shared<int>(0); // every pending handler holds a copy
    int called = 0;
    sluice::tcp_stream survivor;
    sluice::timer survivor_timer;
    {
        test::bounded_loop loop;
        sluice::tcp_listener listener(loop);
        auto port = test::listen_loopback(listener);
        listener.accept_each([&, token](std::error_code ec, sluice::tcp_stream) {
            if (ec) ++called;
        });
        survivor = sluice::tcp_stream(loop);
        survivor.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code) {});
        loop.run_for(20ms);
        char buf[8];
        survivor.read_some({buf, sizeof buf},
                           [&, token](std::error_code, std::size_t) { ++called; });
        survivor_timer = sluice::timer(loop);
        survivor_timer.start(1h, [&, token](std::error_code) { ++called; });
        sluice::tcp_stream by_name(loop); // resolving on the pool when the loop dies
        by_name.connect("localhost", port, [&, token](std::error_code) { ++called; });
        loop.offload([] { std::this_thread::sleep_for(20ms); }, [&, token] { ++called; });
        CHECK(token.use_count() > 4);
    }
    CHECK(called == 0);
    CHECK(token.use_count() == 1);
    // Handles that outlive their loop report it instead of touching freed memory.
    CHECK_FALSE(survivor.is_open());
    CHECK(survivor.get_loop() == nullptr);
    bool late = false;
    survivor_timer.start(1ms, [&](std::error_code) { late = true; });
    CHECK_FALSE(late);
}

TEST_CASE("a handle destroyed after close but before the loop iteration ends") {
    test::bounded_loop loop;
    auto t = std::make_unique<sluice::timer>(loop);
    int calls = 0;
    t->start(1h, [&](std::error_code ec) {
        CHECK(ec == sluice::error::operation_aborted);
        ++calls;
    });
    t->close();
    t.reset();
    loop.run_for(5ms);
    CHECK(calls == 1);
}

// Regression: finish_connect() queues an interest change before it calls the handler;
// a handler that closed and destroyed its stream left that entry dangling, and the
// next loop turn read freed memory (found by examples/balancer under ASan).
TEST_CASE("a stream closed and destroyed inside its own connect handler") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    listener.accept_each([](std::error_code, sluice::tcp_stream) {});
    int connected = 0;
    for (int i = 0; i < 8; ++i) {
        auto* s = new sluice::tcp_stream(loop);
        s->connect(sluice::endpoint::loopback_v4(port), [s, &connected](std::error_code ec) {
            CHECK_FALSE(ec);
            ++connected;
            s->close();
            delete s;
        });
    }
    REQUIRE(loop.run_until([&] { return connected == 8; }));
    loop.run_for(20ms); // the turns after the handlers: no stale entry may be touched
    CHECK(connected == 8);
}
