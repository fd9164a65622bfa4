// WebSocket connections and the lifetime of what owns them (docs/guide/lifetimes.md): a
// destroyed ws::server closes its connections and calls none of its handlers again; a
// connection that outlives its loop refuses to read; what a peer declares does not decide
// what the server buffers.
#include "common.hpp"

#include <memory>
#include <optional>

using namespace test;
using sluice::ws::opcode;

namespace {

// A raw client that has completed the handshake (see server_test.cpp).
struct raw_peer : raw_client {
    raw_peer(sluice::loop& l, std::uint16_t port) : raw_client(l, port) { send(upgrade_request()); }
    std::vector<wire_frame> frames() const { return frames_after_head(in); }
};

// A ws::server that the test may destroy, behind an http::server that outlives it.
struct destroyable {
    bounded_loop loop;
    http::server web;
    std::optional<ws::server> wss;
    std::uint16_t port = 0;

    destroyable() : web(loop) {
        wss.emplace(loop);
        web.on_request([this](const http::request_view& req, http::response& res) {
            if (wss)
                wss->upgrade(req, res);
            else
                res.status(503).end();
        });
        REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        port = web.local_endpoint(ec).port();
        REQUIRE_FALSE(ec);
    }
};

// A frame header declaring `n` payload bytes (masked, 64-bit length form).
std::string big_header(std::uint64_t n) {
    std::string h;
    h += static_cast<char>(0x82);
    h += static_cast<char>(0xFF);
    for (int s = 56; s >= 0; s -= 8) h += static_cast<char>((n >> s) & 0xFF);
    h += std::string("\x12\x34\x56\x78", 4);
    return h;
}

} // namespace

TEST_CASE("ws server: peers declaring large frames and sending a few bytes cost what they sent") {
    // Regression (issue #16, bug 9): each connection reserved the declared 16 MiB as soon as
    // the first payload bytes arrived.
    destroyable f;
    std::size_t messages = 0;
    f.wss->on_message([&](ws::connection&, const ws::message&) { ++messages; });
    constexpr int peers = 8;
    std::vector<std::unique_ptr<raw_peer>> cs;
    for (int i = 0; i < peers; ++i) cs.push_back(std::make_unique<raw_peer>(f.loop, f.port));
    REQUIRE(f.loop.run_until([&] { return f.wss->size() == peers; }));
    for (auto& c : cs) c->send(big_header(std::uint64_t{16} << 20) + std::string(10, 'x'));
    // Every connection has buffered its 10 bytes (a message in progress owns a buffer).
    std::vector<ws::connection> conns;
    f.wss->for_each([&](ws::connection& c) { conns.push_back(c); });
    REQUIRE(f.loop.run_until([&] {
        for (auto& c : conns)
            if (c.receive_buffer_bytes() == 0) return false;
        return true;
    }));
    for (auto& c : conns) CHECK(c.receive_buffer_bytes() <= 1024);
    CHECK(f.wss->receive_buffer_bytes() <= peers * 1024);
    CHECK(f.wss->receive_buffer_bytes() >= peers * 10);
    CHECK(messages == 0);
    CHECK(f.wss->size() == peers);
}

TEST_CASE("ws server: destroying the server closes its connections; no handler runs afterwards") {
    // Regression (issue #16, bug 10): ~server() left its connections running, and a message
    // arriving later ran on_message against the destroyed server.
    destroyable f;
    struct app_state {
        int messages = 0;
    };
    auto* app = new app_state; // freed with the server: ASan sees any later use
    bool gone = false;
    int late_calls = 0, closes = 0;
    f.wss->on_message([app, &gone, &late_calls](ws::connection&, const ws::message&) {
        late_calls += gone;
        ++app->messages;
    });
    f.wss->on_close([&](ws::connection&, const ws::close_status&) { ++closes; });
    raw_peer c(f.loop, f.port);
    ws::connection kept;
    f.wss->on_open([&](ws::connection& conn) { kept = conn; });
    REQUIRE(f.loop.run_until([&] { return f.wss->size() == 1; }));
    c.send(frame(opcode::text, "before"));
    REQUIRE(f.loop.run_until([&] { return app->messages == 1; }));

    f.wss.reset();
    delete app;
    gone = true;
    CHECK_FALSE(kept.is_open());
    CHECK(kept.send_text("late") == ws::error::closed);
    // The client keeps sending; the server's connection is gone.
    for (int i = 0; i < 20; ++i) c.send(frame(opcode::text, "after " + std::to_string(i)));
    REQUIRE(f.loop.run_until([&] { return c.closed || late_calls != 0; }));
    f.loop.run_for(std::chrono::milliseconds(20));
    CHECK(late_calls == 0);
    CHECK(closes == 0); // on_close is not called for connections closed by the destructor
    CHECK(c.closed);
    // Best effort: a 1001 close frame went out before the TCP connection was closed.
    auto fr = c.frames();
    if (!fr.empty()) CHECK(fr.back().close_code() == 1001);
    CHECK(kept.close_code() == 1001);
}

TEST_CASE("ws server: destroying the server from its own handler") {
    destroyable f;
    int calls = 0;
    f.wss->on_message([&](ws::connection& c, const ws::message&) {
        ++calls;
        f.wss.reset(); // the handler being run stays intact until it returns
        CHECK_FALSE(c.is_open());
    });
    raw_peer c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return c.in.find("\r\n\r\n") != std::string::npos; }));
    // Two messages in one read: the second is not delivered.
    c.send(frame(opcode::text, "one") + frame(opcode::text, "two"));
    REQUIRE(f.loop.run_until([&] { return c.closed; }));
    CHECK(calls == 1);
}

namespace {
struct recording_reader final : ws::detail::message_reader {
    int calls = 0;
    std::error_code ec;
    void on_message(const ws::message*, std::error_code e) override {
        ++calls;
        ec = e;
    }
};
} // namespace

TEST_CASE("ws: connection::read() after the loop is gone refuses with loop_gone") {
    // Regression (issue #16, bug 10): read() on a connection whose loop was destroyed
    // dereferenced the null loop pointer.
    ws::connection kept;
    {
        bounded_loop loop;
        http::server web(loop);
        ws::server wss(loop);
        web.on_request([&](const http::request_view& req, http::response& res) { wss.upgrade(req, res); });
        REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
        std::error_code ec;
        const std::string url = "ws://127.0.0.1:" + std::to_string(web.local_endpoint(ec).port()) + "/";
        ws::handlers h;
        bool opened = false;
        h.on_open = [&](ws::connection&) { opened = true; };
        kept = ws::connect(loop, url, std::move(h));
        REQUIRE(loop.run_until([&] { return opened; }));
        CHECK(kept.is_open());
        // The server and then the loop go; the client's connection handle stays.
    }
    CHECK_FALSE(kept.is_open());
    recording_reader r;
    CHECK(kept.read(&r) == sluice::error::loop_gone);
    CHECK(r.calls == 0); // refused at start: nothing to complete on
    CHECK(kept.send_text("x") == ws::error::closed);
    CHECK(kept.close() == ws::error::closed);

    ws::connection none;
    CHECK(none.read(&r) == ws::error::closed);
    CHECK(r.calls == 0);
}

TEST_CASE("ws: a read of a closed connection completes once, from the loop, with closed") {
    destroyable f;
    // No on_message: the connection is pulled.
    ws::connection kept;
    f.wss->on_open([&](ws::connection& conn) { kept = conn; });
    raw_peer c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return f.wss->size() == 1; }));
    kept.abort();
    recording_reader r;
    CHECK_FALSE(kept.read(&r));
    CHECK(r.calls == 0); // never inside the call
    recording_reader second;
    CHECK(kept.read(&second) == sluice::error::in_progress);
    REQUIRE(f.loop.run_until([&] { return r.calls != 0; }));
    f.loop.run_for(std::chrono::milliseconds(10));
    CHECK(r.calls == 1);
    CHECK(r.ec == ws::error::closed);
    CHECK(second.calls == 0);
}

TEST_CASE("ws: a pending read ends with closed, from the loop, when the connection ends") {
    destroyable f;
    // No on_message: the connection is pulled.
    ws::connection kept;
    f.wss->on_open([&](ws::connection& conn) { kept = conn; });
    raw_peer c(f.loop, f.port);
    REQUIRE(f.loop.run_until([&] { return f.wss->size() == 1; }));
    recording_reader r;
    CHECK_FALSE(kept.read(&r));
    kept.abort();
    CHECK(r.calls == 0); // never inside abort()
    REQUIRE(f.loop.run_until([&] { return r.calls != 0; }));
    CHECK(r.calls == 1);
    CHECK(r.ec == ws::error::closed);
}

TEST_CASE("ws server: an upgraded connection keeps counting towards the HTTP server's "
          "max_connections") {
    // Regression (issue #16, bug 9): after the upgrade the http::server forgot the
    // connection, so WebSocket connections escaped max_connections.
    bounded_loop loop;
    http::server_settings hs;
    hs.max_connections = 1;
    http::server web(loop, hs);
    ws::server wss(loop);
    wss.on_message([](ws::connection&, const ws::message&) {});
    web.on_request([&](const http::request_view& req, http::response& res) { wss.upgrade(req, res); });
    REQUIRE_FALSE(web.listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    const std::uint16_t port = web.local_endpoint(ec).port();

    auto peer = std::make_unique<raw_peer>(loop, port);
    REQUIRE(loop.run_until([&] { return wss.size() == 1; }));
    CHECK(web.connections() == 1);

    raw_client second(loop, port); // over the limit while the WebSocket lives
    REQUIRE(loop.run_until([&] { return second.closed; }));
    CHECK(web.rejected_connections() == 1);

    peer.reset(); // the WebSocket ends: its place is free again
    REQUIRE(loop.run_until([&] { return wss.size() == 0 && web.connections() == 0; }));
    raw_client third(loop, port);
    third.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(loop.run_until([&] { return !third.in.empty() || third.closed; }));
    CHECK(web.rejected_connections() == 1);
    CHECK(third.in.rfind("HTTP/1.1 ", 0) == 0);
}
