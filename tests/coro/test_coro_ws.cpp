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
