// Who owns what in the HTTP server, and what happens when something goes first
// (docs/guide/lifetimes.md, issue #16): destroying the server, handles kept after it,
// the loop destroyed before the server, connections handed over by take_over().
// These are meant to run under ASan: a use after free is the failure they catch.
#include "common.hpp"

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace http = sluice::http;
using test::parse_responses;
using test::raw_client;


TEST_CASE("http server: destroying the server closes its connections; kept handles stay safe") {
    test::bounded_loop loop;
    auto srv = std::make_unique<http::server>(loop);
    std::vector<http::response> held;
    int handled = 0, closed_calls = 0;
    srv->on_request([&](const http::request_view&, http::response& res) {
        ++handled;
        res.on_close([&] { ++closed_calls; });
        held.push_back(std::move(res));
    });
    REQUIRE_FALSE(srv->listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    const std::uint16_t port = srv->local_endpoint(ec).port();
    raw_client a(loop, port), b(loop, port);
    a.send(test::get_request("/a"));
    b.send(test::get_request("/b") + "GET /partial HTTP/1.1\r\nHo");
    REQUIRE(loop.run_until([&] { return handled == 2; }));
    REQUIRE(srv->connections() == 2);

    srv.reset();
    // Handles kept by the user are inert, not dangling.
    for (auto& r : held) {
        CHECK_FALSE(r.is_open());
        CHECK_FALSE(r.write("late"));
        r.end("too late");
    }
    REQUIRE(loop.run_until([&] { return a.closed && b.closed; }));
    loop.run_for(20ms);
    CHECK(closed_calls == 0); // the server's callbacks go with it, uncalled
    CHECK(handled == 2);
    CHECK(parse_responses(a.in).empty());
    CHECK(parse_responses(b.in).empty());
    held.clear();
}

TEST_CASE("http server: a handler may destroy its own server") {
    test::bounded_loop loop;
    auto srv = std::make_unique<http::server>(loop);
    std::string seen;
    // The handler's captures are used after the server is gone.
    srv->on_request([&, tag = std::string("captured state")](const http::request_view& req,
                                                             http::response& res) {
        res.end("bye");
        srv.reset();
        seen = tag + " " + std::string(req.path());
    });
    REQUIRE_FALSE(srv->listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    const std::uint16_t port = srv->local_endpoint(ec).port();
    raw_client c(loop, port);
    c.send(test::get_request("/quit") + test::get_request("/never"));
    REQUIRE(loop.run_until([&] { return c.closed; }));
    CHECK(seen == "captured state /quit");
    CHECK_FALSE(srv);
}

TEST_CASE("http server: the loop destroyed before the server") {
    auto loop = std::make_unique<test::bounded_loop>();
    auto srv = std::make_unique<http::server>(*loop);
    http::response held;
    srv->on_request([&](const http::request_view&, http::response& res) { held = std::move(res); });
    REQUIRE_FALSE(srv->listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    const std::uint16_t port = srv->local_endpoint(ec).port();
    {
        raw_client c(*loop, port);
        c.send(test::get_request("/x"));
        REQUIRE(loop->run_until([&] { return static_cast<bool>(held); }));
    }
    loop.reset(); // connections, timers and handlers of the server go with the loop
    CHECK_FALSE(held.is_open());
    held.end("nobody hears this");
    CHECK(srv->connections() == 0);
    srv->stop();
    srv.reset();
}

TEST_CASE("http server: a drain callback armed before take_over does not outlive the session") {
    // The first request arms the connection's drain callback (the stream defers it to
    // the next turn, its queue being empty); the second takes the connection over in
    // the same pass. The deferred callback then runs after the session is gone.
    test::http_fixture f;
    std::vector<http::response::takeover> taken;
    int drained = 0;
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        if (req.path() == "/first") {
            res.on_drain([&] { ++drained; });
            res.end("first");
            return;
        }
        taken.push_back(res.take_over(test::other_protocol_switch));
        CHECK_FALSE(taken.back().ec);
    });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/first") + test::other_protocol_request);
    REQUIRE(f.loop.run_until([&] { return taken.size() == 1; }));
    f.loop.run_for(30ms);
    REQUIRE(f.loop.run_until([&] { return c.in.find("101 Switching") != std::string::npos; }));
    CHECK(c.in.find("first") < c.in.find("101 Switching"));
    CHECK(drained == 0); // the response was retired: its callback is gone
}
