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

TEST_CASE("http server with a streaming coroutine handler: co_await body.read() and read_all") {
    test::bounded_loop loop;
    http::server srv(loop);
    http::on_request_stream_coro(
        srv, loop,
        [](http::request req, http::body_reader body, http::response res) -> sluice::task<void> {
            if (req.path() == "/all") {
                auto all = co_await body.read_all(64);
                if (all.ec) {
                    res.status(static_cast<unsigned>(http::suggested_status(all.ec))).end();
                    co_return;
                }
                res.end("all " + std::string(all.value));
                co_return;
            }
            std::string got;
            int pieces = 0;
            for (;;) {
                auto r = co_await body.read();
                if (r.ec == sluice::error::eof) break;
                if (r.ec) {
                    res.status(static_cast<unsigned>(http::suggested_status(r.ec))).end();
                    co_return;
                }
                got.append(r.value.data(), r.value.size()); // valid until the next co_await
                ++pieces;
                co_await sluice::sleep_for(1ms); // a slow consumer
            }
            res.end("read " + got + " in " + std::to_string(pieces > 0 ? 1 : 0));
        });
    REQUIRE_FALSE(srv.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto port = srv.local_endpoint(ec).port();

    sluice::tcp_stream client(loop);
    std::string got;
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code e) {
        REQUIRE_FALSE(e);
        client.write("POST /each HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"
                     "POST /all HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nwhole"
                     "POST /all HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
        client.read_start([&](std::error_code e2, std::string_view d) {
            if (!e2) got.append(d);
        });
    });
    REQUIRE(loop.run_until([&] { return got.find(" 413 ") != std::string::npos; }));
    auto each = got.find("read abcdef in 1");
    auto all = got.find("all whole");
    CHECK(each != std::string::npos);
    CHECK(all != std::string::npos);
    CHECK(each < all);
}
