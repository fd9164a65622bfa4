// Coroutine layer: every I/O awaitable, cancellation at each suspension point, handle
// close and loop destruction with suspended coroutines.
#include "../loop/common.hpp"

#include <sluice/coro.hpp>

using namespace std::chrono_literals;
using sluice::task;

namespace {

const std::error_code aborted = make_error_code(sluice::error::operation_aborted);
const std::error_code timed_out = make_error_code(sluice::error::timed_out);

task<void> echo_session(sluice::tcp_stream s) {
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await sluice::read_some(s, buf, sizeof buf);
        if (ec) break;
        if ((co_await sluice::write(s, sluice::const_buffer(buf, n))).ec) break;
    }
}

task<void> echo_server(sluice::tcp_listener& l, int sessions, sluice::loop& lp) {
    for (int i = 0; i < sessions; ++i) {
        auto r = co_await sluice::accept(l);
        if (!r) co_return;
        sluice::spawn(lp, echo_session(std::move(r.value)));
    }
}

// Sends `msg`, reads it back, returns a checksum of what came back.
task<std::uint64_t> client(sluice::endpoint ep, std::string msg, int rounds) {
    sluice::tcp_stream s(*co_await sluice::current_loop());
    if (co_await sluice::connect(s, ep)) co_return 0;
    std::string back(msg.size(), '\0');
    std::uint64_t h = test::fnv_seed;
    for (int i = 0; i < rounds; ++i) {
        if ((co_await sluice::write(s, msg)).ec) co_return 0;
        auto r = co_await sluice::read_exact(s, back.data(), back.size());
        if (!r) co_return 0;
        h = test::fnv1a(h, back);
    }
    co_return h;
}

} // namespace

TEST_CASE("coro io: accept, connect, read_some, read_exact, write (echo with checksums)") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto port = test::listen_loopback(listener);
    sluice::spawn(l, echo_server(listener, 3, l));
    std::string msg = test::pattern(100000, 7);
    std::uint64_t want = test::fnv_seed;
    for (int i = 0; i < 5; ++i) want = test::fnv1a(want, msg);
    auto body = [&]() -> task<int> {
        auto [a, b, c] =
            co_await sluice::when_all(client(sluice::endpoint::loopback_v4(port), msg, 5),
                                      client(sluice::endpoint::loopback_v4(port), msg, 5),
                                      client(sluice::endpoint::loopback_v4(port), msg, 5));
        co_return (a == want) + (b == want) + (c == want);
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 3);
}

TEST_CASE("coro io: connect by host name, and a refused connect") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto port = test::listen_loopback(listener);
    sluice::spawn(l, echo_server(listener, 1, l));
    auto body = [&]() -> task<int> {
        sluice::tcp_stream s(l);
        if (auto ec = co_await sluice::connect(s, "localhost", port)) co_return 1;
        char buf[5];
        co_await sluice::write(s, "hello");
        auto r = co_await sluice::read_exact(s, buf, 5);
        if (!r || std::string_view(buf, 5) != "hello") co_return 2;
        s.close();
        auto after = co_await sluice::read_some(s, buf, 5);
        if (after.ec != make_error_code(sluice::error::not_open)) co_return 3;
        // A port nobody listens on (the listener's port, once closed).
        listener.close();
        sluice::tcp_stream t(l);
        if (!co_await sluice::connect(t, sluice::endpoint::loopback_v4(port))) co_return 4;
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
}

TEST_CASE("coro io: read_exact reports eof with the partial count") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto port = test::listen_loopback(listener);
    auto peer = [&]() -> task<void> {
        auto r = co_await sluice::accept(listener);
        co_await sluice::write(r.value, "abc");
        r.value.shutdown_write();
        char b[1];
        co_await sluice::read_some(r.value, b, 1); // until the client closes
    };
    sluice::spawn(l, peer());
    auto body = [&]() -> task<sluice::result<std::size_t>> {
        sluice::tcp_stream s(l);
        co_await sluice::connect(s, sluice::endpoint::loopback_v4(port));
        char buf[10];
        co_return co_await sluice::read_exact(s, buf, 10);
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(r->ec == make_error_code(sluice::error::eof));
    CHECK(r->value == 3);
}

TEST_CASE("coro io: send_to and recv_from") {
    test::bounded_loop l;
    sluice::udp_socket a(l), b(l);
    REQUIRE_FALSE(a.bind(sluice::endpoint::loopback_v4(0)));
    REQUIRE_FALSE(b.bind(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto bep = b.local_endpoint(ec);
    auto aep = a.local_endpoint(ec);
    auto body = [&]() -> task<int> {
        auto s = co_await sluice::send_to(a, bep, "ping");
        if (!s || s.value != 4) co_return 1;
        char buf[16];
        auto r = co_await sluice::recv_from(b, sluice::mutable_buffer(buf, sizeof buf));
        if (!r || r->size != 4 || std::string_view(buf, 4) != "ping") co_return 2;
        if (r->from.port() != aep.port()) co_return 3;
        char tiny[2];
        co_await sluice::send_to(a, bep, "toolong");
        auto t = co_await sluice::recv_from(b, sluice::mutable_buffer(tiny, 2));
        if (t.ec != std::make_error_code(std::errc::message_size)) co_return 4;
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
}

TEST_CASE("coro io: cancellation and timeouts at every suspension point") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto port = test::listen_loopback(listener);
    auto ep = sluice::endpoint::loopback_v4(port);
    sluice::tcp_listener listener2(l);
    auto ep2 = sluice::endpoint::loopback_v4(test::listen_loopback(listener2));
    sluice::udp_socket u(l);
    REQUIRE_FALSE(u.bind(sluice::endpoint::loopback_v4(0)));

    auto body = [&]() -> task<int> {
        // accept: nobody connects
        auto a = co_await sluice::with_timeout(sluice::accept(listener), 2ms);
        if (a.ec != timed_out || a.value.is_open()) co_return 1;

        // connect: cancelled while pending (the loser of when_any), then cancelled
        // before it starts; the stream can connect afterwards.
        // (on another listener: the cancelled attempts may still sit in its backlog)
        sluice::tcp_stream c(l);
        auto connect_pending = [&]() -> task<std::error_code> {
            co_return co_await sluice::connect(c, ep2);
        };
        auto quick = []() -> task<int> { co_return 0; };
        bool sync_won = false;
        auto any = co_await sluice::when_any(connect_pending(), quick());
        sync_won = any.index() == 1;
        if (!sync_won) co_return 2;
        sluice::cancellation_source pre;
        pre.cancel();
        if (co_await sluice::with_cancellation(sluice::connect(c, ep2), pre.token()) != aborted)
            co_return 3;
        if (co_await sluice::connect(c, ep)) co_return 4;
        auto srv = co_await sluice::accept(listener);
        if (!srv) co_return 5;

        // read_some and read_exact: no data
        char buf[16];
        auto r1 = co_await sluice::with_timeout(sluice::read_some(c, buf, sizeof buf), 2ms);
        if (r1.ec != timed_out) co_return 6;
        co_await sluice::write(srv.value, "abc");
        auto r2 = co_await sluice::with_timeout(sluice::read_exact(c, buf, 10), 20ms);
        if (r2.ec != timed_out || r2.value != 3) co_return 7;
        // The stream still works after a cancelled read.
        co_await sluice::write(srv.value, "xy");
        auto r3 = co_await sluice::read_exact(c, buf, 2);
        if (!r3 || std::string_view(buf, 2) != "xy") co_return 8;

        // write: the peer does not read, so a large write stays queued
        std::string big(16 * 1024 * 1024, 'x');
        auto w = co_await sluice::with_timeout(sluice::write(c, big), 20ms);
        if (w.ec != timed_out) co_return 9;

        // recv_from: nothing arrives
        auto u1 = co_await sluice::with_timeout(
            sluice::recv_from(u, sluice::mutable_buffer(buf, 16)), 2ms);
        if (u1.ec != timed_out) co_return 10;

        // sleep on a timer handle
        sluice::timer t(l);
        if (co_await sluice::with_timeout(sluice::sleep_for(t, 10s), 2ms) != timed_out)
            co_return 11;
        co_return 0;
    };
    auto r = sluice::run_until_complete(l, body());
    REQUIRE(r.has_value());
    CHECK(*r == 0);
}

TEST_CASE("coro io: closing a handle resumes its suspended coroutines with operation_aborted") {
    test::bounded_loop l;
    sluice::tcp_listener listener(l);
    auto port = test::listen_loopback(listener);
    sluice::tcp_stream c(l);
    std::error_code read_ec, accept_ec, recv_ec;
    int done = 0;
    auto reader = [&]() -> task<void> {
        co_await sluice::connect(c, sluice::endpoint::loopback_v4(port));
        char buf[8];
        read_ec = (co_await sluice::read_some(c, buf, 8)).ec;
    };
    auto acceptor = [&]() -> task<void> {
        auto first = co_await sluice::accept(listener);
        accept_ec = (co_await sluice::accept(listener)).ec;
    };
    sluice::udp_socket u(l);
    REQUIRE_FALSE(u.bind(sluice::endpoint::loopback_v4(0)));
    auto receiver = [&]() -> task<void> {
        char buf[8];
        recv_ec = (co_await sluice::recv_from(u, sluice::mutable_buffer(buf, 8))).ec;
    };
    sluice::spawn(l, acceptor(), [&] { ++done; });
    sluice::spawn(l, reader(), [&] { ++done; });
    sluice::spawn(l, receiver(), [&] { ++done; });
    l.run_for(20ms);
    c.close();
    listener.close();
    u.close();
    REQUIRE(l.run_until([&] { return done == 3; }));
    CHECK(read_ec == aborted);
    CHECK(accept_ec == aborted);
    CHECK(recv_ec == aborted);
}

TEST_CASE("coro io: destroying the loop with coroutines suspended in I/O") {
    int completed = 0;
    {
        test::bounded_loop l;
        sluice::tcp_listener listener(l);
        auto port = test::listen_loopback(listener);
        sluice::spawn(l, echo_server(listener, 100, l), [&] { ++completed; });
        auto idle_client = [&]() -> task<void> {
            sluice::tcp_stream s(l);
            co_await sluice::connect(s, sluice::endpoint::loopback_v4(port));
            char buf[8];
            co_await sluice::with_timeout(sluice::read_some(s, buf, 8), 10s);
        };
        for (int i = 0; i < 3; ++i) sluice::spawn(l, idle_client(), [&] { ++completed; });
        l.run_for(30ms);
    }
    CHECK(completed == 0);
}
