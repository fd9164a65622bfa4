// The pooled client's co_await form: http::co_get / http::co_request on an http::client, and
// cancellation of a pending request through the awaiting chain.
#include "../loop/common.hpp"

#include <sluice/coro.hpp>
#include <sluice/http.hpp>

#include <vector>

using namespace std::chrono_literals;
namespace http = sluice::http;

TEST_CASE("coro pool: awaited requests reuse one connection; a timed-out await cancels its request") {
    test::bounded_loop l;
    http::server srv(l);
    srv.on_request([](const http::request_view& req, http::response& res) {
        res.end(std::string(req.method()) + " " + std::string(req.path()) + " " + std::string(req.body()));
    });
    REQUIRE_FALSE(srv.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    std::string base = "http://127.0.0.1:" + std::to_string(srv.local_endpoint(ec).port());

    sluice::tcp_listener silent(l);
    std::string silent_url = "http://127.0.0.1:" + std::to_string(test::listen_loopback(silent)) + "/";
    std::vector<sluice::tcp_stream> held;
    silent.accept_each([&](std::error_code e, sluice::tcp_stream st) {
        if (!e) held.push_back(std::move(st));
    });

    http::client c(l);
    auto body = [&]() -> sluice::task<int> {
        for (int i = 0; i < 5; ++i) {
            auto r = co_await http::co_get(c, base + "/g" + std::to_string(i));
            if (!r || r->status != 200 || r->body != "GET /g" + std::to_string(i) + " ") co_return 1;
        }
        http::client_request post;
        post.method = "POST";
        post.url = base + "/p";
        post.body = "data";
        auto p = co_await http::co_request(c, std::move(post));
        if (!p || p->body != "POST /p data") co_return 2;
        if (c.connections_opened() != 1) co_return 3;
        // The await gives up: the request is cancelled and its connection closed.
        auto t = co_await sluice::with_timeout(http::co_get(c, silent_url), 50ms);
        if (t.ec != sluice::error::timed_out) co_return 4;
        if (c.open_connections() != 1) co_return 5; // only the idle one to the server
        co_return 0;
    };
    int result = -1;
    sluice::spawn(l, body(), [&](int v) { result = v; });
    REQUIRE(l.run_until([&] { return result != -1; }));
    CHECK(result == 0);
}

TEST_CASE("coro pool: a closed client completes the await with operation_aborted") {
    test::bounded_loop l;
    http::client c(l);
    c.close();
    auto body = [&]() -> sluice::task<int> {
        auto r = co_await http::co_get(c, "http://127.0.0.1:9/");
        co_return r.ec == sluice::error::operation_aborted ? 0 : 1;
    };
    int result = -1;
    sluice::spawn(l, body(), [&](int v) { result = v; });
    REQUIRE(l.run_until([&] { return result != -1; }));
    CHECK(result == 0);
}
