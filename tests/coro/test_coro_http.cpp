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

TEST_CASE("http server with a coroutine handler: drained() paces a download to a slow client") {
    // 32 MiB produced in 64 KiB pieces with Content-Length; the client reads nothing for a
    // while. The producer awaits drained() whenever the queue is high, so the server never
    // holds much more than the high watermark, and every byte arrives in order.
    test::bounded_loop loop;
    http::server_settings st;
    st.write.low_watermark = 64 * 1024;
    st.write.high_watermark = 256 * 1024;
    http::server srv(loop, st);
    constexpr std::size_t total = 32u << 20, piece = 64 * 1024;
    std::size_t waits = 0;
    bool producer_done = false;
    http::on_request_coro(srv, loop, [&](http::request, http::response res) -> sluice::task<void> {
        res.content_length(total);
        std::string buf(piece, '\0');
        for (std::size_t off = 0; off < total; off += piece) {
            for (std::size_t i = 0; i < piece; ++i) buf[i] = static_cast<char>((off + i) % 251);
            CHECK(res.write(buf));
            if (res.write_queue_high()) {
                ++waits;
                std::error_code ec = co_await http::drained(res);
                REQUIRE_FALSE(ec);
                CHECK_FALSE(res.write_queue_high());
            }
        }
        res.end();
        producer_done = true;
    });
    REQUIRE_FALSE(srv.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto port = srv.local_endpoint(ec).port();
    sluice::tcp_stream client(loop);
    std::string head;
    std::size_t body = 0, bad = 0;
    bool in_body = false;
    client.connect(sluice::endpoint::loopback_v4(port), [&](std::error_code e) {
        REQUIRE_FALSE(e);
        client.write("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    });
    loop.run_for(100ms); // the client does not read yet: the producer must wait
    CHECK_FALSE(producer_done);
    CHECK(waits >= 1);
    client.read_start([&](std::error_code e2, std::string_view d) {
        if (e2) return;
        if (!in_body) {
            head.append(d);
            std::size_t at = head.find("\r\n\r\n");
            if (at == std::string::npos) return;
            d = std::string_view(head).substr(at + 4);
            in_body = true;
        }
        for (char c : d) {
            if (static_cast<unsigned char>(c) != body % 251) ++bad;
            ++body;
        }
    });
    REQUIRE(loop.run_until([&] { return body == total && producer_done; }));
    CHECK(head.find("Content-Length: 33554432\r\n") != std::string::npos);
    CHECK(head.find("chunked") == std::string::npos);
    CHECK(bad == 0);
}

TEST_CASE("http server with a coroutine handler: drained() hears the client go away") {
    test::bounded_loop loop;
    http::server_settings st;
    st.write.low_watermark = 16 * 1024;
    st.write.high_watermark = 64 * 1024;
    http::server srv(loop, st);
    std::error_code waited;
    bool after = false;
    http::on_request_coro(srv, loop, [&](http::request, http::response res) -> sluice::task<void> {
        std::string buf(64 * 1024, 'x');
        while (!res.write_queue_high()) CHECK(res.write(buf));
        waited = co_await http::drained(res);
        after = true; // runs: the wait ends with an error, the coroutine is not dropped
    });
    REQUIRE_FALSE(srv.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    auto port = srv.local_endpoint(ec).port();
    auto client = std::make_unique<sluice::tcp_stream>(loop);
    bool sent = false;
    client->connect(sluice::endpoint::loopback_v4(port), [&](std::error_code e) {
        REQUIRE_FALSE(e);
        client->write("GET /stuck HTTP/1.1\r\nHost: t\r\n\r\n");
        sent = true;
    });
    REQUIRE(loop.run_until([&] { return sent; }));
    loop.run_for(50ms);
    CHECK_FALSE(after);
    client.reset(); // gone without reading
    REQUIRE(loop.run_until([&] { return after; }));
    CHECK(waited == sluice::error::not_open);
}
