// WebSocket connections from coroutines: the server side pulled with ws::read, the client
// dialled with ws::async_connect, both on the same connection type as the callback form.
#include "../loop/common.hpp"

#include <sluice/http.hpp>
#include <sluice/ws.hpp>

using namespace std::chrono_literals;
namespace http = sluice::http;
namespace ws = sluice::ws;

namespace {

// A server in pull mode (no on_message): each connection is served by a coroutine.
struct coro_echo_server {
    http::server web;
    ws::server wss;
    std::uint16_t port = 0;
    int sessions_done = 0;

    explicit coro_echo_server(sluice::loop& l) : web(l), wss(l) {
        wss.on_open([this, &l](ws::connection& c) { sluice::spawn(l, session(c)); });
        web.on_request(
            [this](const http::request_view& req, http::response& res) { wss.upgrade(req, res); });
        REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        port = web.local_endpoint(ec).port();
    }

    sluice::task<void> session(ws::connection c) {
        for (;;) {
            auto r = co_await ws::read(c);
            if (!r) break;
            // The view is valid until the next suspension; send() does not suspend.
            CHECK_FALSE(c.send(r.value.op, r.value.data.data(), r.value.data.size()));
            if (r.value.data == "slow down") co_await sluice::sleep_for(20ms);
        }
        ++sessions_done;
    }
};

} // namespace

TEST_CASE("ws coroutines: async_connect, read, echo, close") {
    test::bounded_loop loop;
    coro_echo_server srv(loop);
    bool done = false;
    auto client = [&]() -> sluice::task<void> {
        auto [ec, c] = co_await ws::async_connect(
            loop, "ws://127.0.0.1:" + std::to_string(srv.port) + "/echo");
        REQUIRE_FALSE(ec);
        CHECK(c.is_open());
        // Several messages in flight, one of which makes the server pause between reads:
        // nothing is lost or reordered while the server is not reading.
        std::vector<std::string> sent = {"one", "slow down", test::pattern(200000, 5), "", "end"};
        for (auto& m : sent) CHECK_FALSE(c.send_binary(m));
        for (auto& m : sent) {
            auto r = co_await ws::read(c);
            REQUIRE_FALSE(r.ec);
            CHECK(r.value.data == m);
            CHECK(r.value.is_binary());
        }
        CHECK_FALSE(c.close(1000, "bye"));
        auto after = co_await ws::read(c);
        CHECK(after.ec == ws::error::closed);
        done = true;
    };
    sluice::spawn(loop, client());
    REQUIRE(loop.run_until([&] { return done && srv.sessions_done == 1; }));
    CHECK(srv.wss.size() == 0);
}

TEST_CASE("ws coroutines: a failed dial returns the error") {
    test::bounded_loop loop;
    sluice::tcp_listener l(loop);
    auto port = test::listen_loopback(l);
    l.close();
    std::error_code got;
    bool done = false;
    auto client = [&]() -> sluice::task<void> {
        auto r = co_await ws::async_connect(loop, "ws://127.0.0.1:" + std::to_string(port) + "/");
        got = r.ec;
        done = true;
    };
    sluice::spawn(loop, client());
    REQUIRE(loop.run_until([&] { return done; }));
    CHECK(got);
}

TEST_CASE("ws coroutines: with_timeout cancels a read and the connection stays usable") {
    test::bounded_loop loop;
    coro_echo_server srv(loop);
    bool done = false;
    auto client = [&]() -> sluice::task<void> {
        auto [ec, c] =
            co_await ws::async_connect(loop, "ws://127.0.0.1:" + std::to_string(srv.port) + "/");
        REQUIRE_FALSE(ec);
        auto r = co_await sluice::with_timeout(ws::read(c), 30ms); // nothing was sent
        CHECK(r.ec == sluice::error::timed_out);
        CHECK(c.is_open());
        CHECK_FALSE(c.send_text("still here"));
        auto r2 = co_await ws::read(c);
        REQUIRE_FALSE(r2.ec);
        CHECK(r2.value.data == "still here");
        CHECK(r2.value.is_text());
        c.close();
        done = true;
    };
    sluice::spawn(loop, client());
    REQUIRE(loop.run_until([&] { return done; }));
}

namespace {

// A WebSocket peer that handshakes but reads nothing until told to, and then discards.
struct stalled_peer {
    sluice::tcp_stream s;
    std::size_t received = 0;
    stalled_peer(sluice::loop& l, std::uint16_t port) : s(l) {
        s.connect(sluice::endpoint::loopback_v4(port), [this](std::error_code ec) {
            REQUIRE_FALSE(ec);
            s.write(std::string("GET /d HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n"));
        });
    }
    void start_reading() {
        s.read_start([this](std::error_code ec, std::string_view d) {
            if (!ec) received += d.size();
        });
    }
};

struct drain_server {
    http::server web;
    ws::server wss;
    std::uint16_t port = 0;
    ws::connection conn;
    explicit drain_server(sluice::loop& l, ws::settings s = {}) : web(l), wss(l, std::move(s)) {
        wss.on_open([this](ws::connection& c) { conn = c; });
        web.on_request(
            [this](const http::request_view& req, http::response& res) { wss.upgrade(req, res); });
        REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        port = web.local_endpoint(ec).port();
    }
};

// Sends 16 KiB messages until the queue is high (bounded).
void fill_until_high(test::bounded_loop& loop, ws::connection& c) {
    std::string m(16 * 1024, 'q');
    for (int i = 0; i < 20000 && !c.write_queue_high(); ++i) {
        REQUIRE_FALSE(c.send_binary(m));
        if (i % 16 == 0) loop.run_for(1ms);
    }
    REQUIRE(c.write_queue_high());
}

} // namespace

TEST_CASE("ws coroutines: drained() waits for a slow peer, returns at once when low") {
    test::bounded_loop loop;
    ws::settings s;
    s.on_send_limit = ws::send_limit_policy::drop;
    drain_server srv(loop, s);
    stalled_peer peer(loop, srv.port);
    REQUIRE(loop.run_until([&] { return static_cast<bool>(srv.conn); }));
    fill_until_high(loop, srv.conn);
    int stage = 0;
    std::error_code first, second;
    auto waiter = [&]() -> sluice::task<void> {
        first = co_await ws::drained(srv.conn);
        stage = 1;
        CHECK_FALSE(srv.conn.write_queue_high());
        second = co_await ws::drained(srv.conn); // already low: at once
        stage = 2;
    };
    sluice::spawn(loop, waiter());
    loop.run_for(30ms);
    CHECK(stage == 0); // nobody reads: still waiting
    // Another waiter on the same connection is refused, without disturbing the first.
    std::error_code busy;
    bool busy_done = false;
    auto second_waiter = [&]() -> sluice::task<void> {
        busy = co_await ws::drained(srv.conn);
        busy_done = true;
    };
    sluice::spawn(loop, second_waiter());
    REQUIRE(loop.run_until([&] { return busy_done; }));
    CHECK(busy == sluice::error::in_progress);
    CHECK(stage == 0);
    peer.start_reading();
    REQUIRE(loop.run_until([&] { return stage == 2; }));
    CHECK_FALSE(first);
    CHECK_FALSE(second);
}

TEST_CASE("ws coroutines: drained() hears the end of the connection, and cancellation") {
    test::bounded_loop loop;
    ws::settings s;
    s.on_send_limit = ws::send_limit_policy::drop;
    drain_server srv(loop, s);
    auto peer = std::make_unique<stalled_peer>(loop, srv.port);
    REQUIRE(loop.run_until([&] { return static_cast<bool>(srv.conn); }));
    fill_until_high(loop, srv.conn);
    std::error_code timed, ended;
    int done = 0;
    auto waiter = [&]() -> sluice::task<void> {
        timed = co_await sluice::with_timeout(ws::drained(srv.conn), 20ms);
        ++done;
        ended = co_await ws::drained(srv.conn);
        ++done;
    };
    sluice::spawn(loop, waiter());
    REQUIRE(loop.run_until([&] { return done == 1; }));
    CHECK(timed == sluice::error::timed_out);
    peer.reset(); // the peer goes away: the connection ends while the wait is pending
    REQUIRE(loop.run_until([&] { return done == 2; }));
    CHECK(ended == ws::error::closed);
}
