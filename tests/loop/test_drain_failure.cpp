// A stream whose owner paused reading for backpressure (the echo pattern: read_stop()
// when write_queue_high(), resume from on_drain()) must learn that its queued writes
// failed. Before the fix, a peer that reset the connection while the owner was paused
// left the stream with no pending read, no queued write and an on_drain that never
// ran: the connection and its descriptor stayed open for good. Under a descriptor
// limit, enough such peers left echo_server unable to accept anyone (issue #16, item 12).
// The same early return skipped a requested close_after_flush: that stream stayed open too.
#include "common.hpp"

#include <string>

using namespace std::chrono_literals;

TEST_CASE("a flush that fails while the owner waits for on_drain still runs on_drain") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream server_side;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        server_side = std::move(s);
    });
    // A raw client that never reads: the server's queue can only grow.
    auto client = test::portable::connect_loopback(port);
    REQUIRE(client != test::portable::bad_socket);
    REQUIRE(loop.run_until([&] { return server_side.is_open(); }));

    server_side.set_write_limits({16 * 1024, 64 * 1024, 64u << 20});
    // More than the loopback socket buffers of both ends hold, so most stays queued.
    std::error_code write_result = sluice::error::in_progress;
    server_side.write(std::string(32u << 20, 'e'),
                      [&](std::error_code ec, std::size_t) { write_result = ec; });
    REQUIRE(server_side.write_queue_high());
    int drains = 0;
    server_side.on_drain([&] { ++drains; });
    loop.run_for(50ms);
    REQUIRE(drains == 0); // the peer reads nothing: still paused
    REQUIRE(write_result == sluice::error::in_progress);

    // The peer goes away with a reset: the next send fails and the queue is dropped.
    REQUIRE(test::portable::reset_on_close(client));
    test::portable::close_socket(client);
    REQUIRE(loop.run_until([&] { return write_result != sluice::error::in_progress; }, 10s));
    CHECK(write_result); // failed, not delivered
    CHECK(server_side.buffered_amount() == 0);
    // The paused owner is told: the queue is empty, so on_drain runs (once) ...
    REQUIRE(loop.run_until([&] { return drains > 0; }, 5s));
    CHECK(drains == 1);
    // ... and reading again reports the connection's end, so the owner can close it.
    std::error_code read_result;
    bool read_done = false;
    server_side.read_start([&](std::error_code ec, std::string_view) {
        read_result = ec;
        read_done = true;
        server_side.close();
    });
    REQUIRE(loop.run_until([&] { return read_done; }, 5s));
    CHECK(read_result);
    CHECK_FALSE(server_side.is_open());
}

TEST_CASE("close_after_flush closes the stream when the flush fails") {
    test::bounded_loop loop;
    sluice::tcp_listener listener(loop);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream server_side;
    listener.accept([&](std::error_code ec, sluice::tcp_stream s) {
        REQUIRE_FALSE(ec);
        server_side = std::move(s);
    });
    auto client = test::portable::connect_loopback(port);
    REQUIRE(client != test::portable::bad_socket);
    REQUIRE(loop.run_until([&] { return server_side.is_open(); }));

    std::error_code write_result = sluice::error::in_progress;
    server_side.write(std::string(32u << 20, 'c'),
                      [&](std::error_code ec, std::size_t) { write_result = ec; });
    REQUIRE(server_side.buffered_amount() > 0);
    server_side.close_after_flush(); // queued bytes first: still open
    loop.run_for(50ms);
    REQUIRE(server_side.is_open());

    REQUIRE(test::portable::reset_on_close(client));
    test::portable::close_socket(client);
    REQUIRE(loop.run_until([&] { return write_result != sluice::error::in_progress; }, 10s));
    CHECK(write_result);
    // Nothing is left to flush: the close that was asked for happens now.
    CHECK(loop.run_until([&] { return !server_side.is_open(); }, 5s));
}
