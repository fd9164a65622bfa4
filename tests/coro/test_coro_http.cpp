// The HTTP server's coroutine handler form: a handler that awaits before answering,
// with pipelined requests still answered in order.
#include "../loop/common.hpp"

#include <sluice/http.hpp>

using namespace std::chrono_literals;
namespace http = sluice::http;

TEST_CASE("http server with a coroutine handler: awaits, owned request, answers in order") {
    test::bounded_loop loop;
    http::server srv(loop);
    http::on_request_coro(
        srv, loop, [](http::request req, http::response res) -> sluice::task<void> {
            // The slow request sleeps longer than the fast one behind it.
            co_await sluice::sleep_for(req.path() == "/slow" ? 30ms : 1ms);
            res.header("X-Path", std::string(req.path()));
            res.end("answer to " + std::string(req.path()) + " " + std::string(req.get("x-tag")));
        });
    REQUIRE_FALSE(srv.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto port = srv.local_endpoint(ec).port();

    sluice::tcp_stream client(loop);
    std::string got;
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code e) {
        REQUIRE_FALSE(e);
        client.write("GET /slow HTTP/1.1\r\nHost: t\r\nX-Tag: one\r\n\r\n"
                     "GET /fast HTTP/1.1\r\nHost: t\r\nX-Tag: two\r\n\r\n");
        client.read_start([&](std::error_code e2, std::string_view d) {
            if (!e2) got.append(d);
        });
    });
    REQUIRE(loop.run_until([&] { return got.find("answer to /fast two") != std::string::npos; }));
    auto slow = got.find("answer to /slow one");
    auto fast = got.find("answer to /fast two");
    CHECK(slow != std::string::npos);
    CHECK(slow < fast); // in request order, although /fast finished first
}
