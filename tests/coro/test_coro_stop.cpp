// Coroutines keep the rules of docs/guide/lifetimes.md: an await on a stopped read resumes
// with operation_aborted; cancelling one write withdraws it alone or fails the stream,
// never both dropping bytes and leaving the stream open; a connect by name is cancellable
// while its lookup still runs.
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

#include <memory>

using namespace std::chrono_literals;
using sluice::task;

namespace {

const std::error_code aborted = make_error_code(sluice::error::operation_aborted);
const std::error_code timed_out = make_error_code(sluice::error::timed_out);

// Writes 1 MiB chunks with callbacks until some bytes wait in the stream's queue.
std::string fill(sluice::tcp_stream& s, std::error_code& ec_out) {
    std::string all;
    for (std::uint32_t i = 1; s.buffered_amount() == 0 && i <= 64; ++i) {
        std::string chunk = test::pattern(1u << 20, i);
        all += chunk;
        s.write(chunk, [&ec_out](std::error_code ec, std::size_t) {
            if (ec) ec_out = ec;
        });
    }
    return all;
}

} // namespace

TEST_CASE("coro stop: an await on read_some resumes with operation_aborted after read_stop()") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    int resumed = 0;
    std::error_code seen;
    auto reader = [&]() -> task<void> {
        char buf[16];
        auto r = co_await sluice::read_some(p.client, buf, sizeof buf);
        seen = r.ec;
        ++resumed;
    };
    sluice::spawn(loop, reader());
    loop.run_for(10ms);
    REQUIRE(resumed == 0);
    p.client.read_stop(); // from outside the chain: the chain is resumed, not destroyed
    REQUIRE(loop.run_until([&] { return resumed > 0; }));
    CHECK(resumed == 1);
    CHECK(seen == aborted);
}

TEST_CASE("coro stop: a timed-out write queued behind another is withdrawn alone; the other "
          "one's bytes all arrive") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    std::error_code first_ec;
    const std::string first = fill(p.client, first_ec); // started, partly sent
    REQUIRE(p.client.buffered_amount() > 0);
    std::error_code awaited;
    bool done = false;
    auto writer = [&]() -> task<void> {
        auto r = co_await sluice::with_timeout(sluice::write(p.client, "SECOND"), 30ms);
        awaited = r.ec;
        done = true;
    };
    sluice::spawn(loop, writer());
    REQUIRE(loop.run_until([&] { return done; }));
    CHECK(awaited == timed_out);
    CHECK(p.client.is_open()); // nothing of it went out, nothing behind it: no hole
    std::string got;
    p.served.read_start([&](std::error_code ec, std::string_view d) {
        if (!ec) got.append(d);
    });
    REQUIRE(loop.run_until([&] { return got.size() >= first.size() && p.client.buffered_amount() == 0; }));
    loop.run_for(20ms);
    CHECK_FALSE(first_ec); // the other write was not cancelled with it
    CHECK(got == first);   // all of it, and not the withdrawn one
}

TEST_CASE("coro stop: a timed-out write whose bytes started to go out fails the stream") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    std::error_code awaited;
    bool done = false;
    const std::string big = test::pattern(32u << 20, 9);
    auto writer = [&]() -> task<void> {
        auto r = co_await sluice::with_timeout(sluice::write(p.client, big), 30ms);
        awaited = r.ec;
        done = true;
    };
    sluice::spawn(loop, writer());
    REQUIRE(loop.run_until([&] { return done; }));
    CHECK(awaited == timed_out);
    CHECK_FALSE(p.client.is_open()); // part of it is with the peer: the rest cannot be skipped
}

TEST_CASE("coro stop: with_timeout ends connect(host, port) while its name lookup waits") {
    test::bounded_loop loop;
    test::pool_blocker blocked;
    std::error_code seen = make_error_code(sluice::error::not_open);
    bool done = false;
    auto dial = [&]() -> task<void> {
        sluice::tcp_stream s(loop);
        seen = co_await sluice::with_timeout(sluice::connect(s, "localhost", 9), 30ms);
        done = true;
    };
    sluice::spawn(loop, dial());
    REQUIRE(loop.run_until([&] { return done; }, 5s)); // the lookup is blocked until release()
    CHECK(seen == timed_out);
    blocked.release();
}

TEST_CASE("coro stop: with_timeout ends resolve() while the lookup waits") {
    test::bounded_loop loop;
    test::pool_blocker blocked;
    std::error_code seen;
    bool done = false;
    auto lookup = [&]() -> task<void> {
        auto r = co_await sluice::with_timeout(sluice::resolve("localhost", 9), 30ms);
        seen = r.ec;
        done = true;
    };
    sluice::spawn(loop, lookup());
    REQUIRE(loop.run_until([&] { return done; }, 5s));
    CHECK(seen == timed_out);
    blocked.release();
}

TEST_CASE("coro stop: a cancel that arrives after the stream object was destroyed reaches "
          "nothing freed") {
    test::bounded_loop loop;
    test::stream_pair p(loop);
    auto* s = new sluice::tcp_stream(std::move(p.client));
    sluice::cancellation_source src;
    int resumed = 0;
    std::error_code seen;
    auto reader = [&]() -> task<void> {
        char buf[16];
        auto r = co_await sluice::with_cancellation(sluice::read_some(*s, buf, sizeof buf),
                                                    src.token());
        seen = r.ec;
        ++resumed;
    };
    sluice::spawn(loop, reader());
    loop.run_for(10ms);
    REQUIRE(resumed == 0);
    // The owner destroys the stream, and in the same breath the await is cancelled: the
    // awaiter must not reach the destroyed handle object.
    delete s;
    src.cancel();
    REQUIRE(loop.run_until([&] { return resumed > 0; }));
    loop.run_for(10ms);
    CHECK(resumed == 1);
    CHECK(seen == aborted);
}
