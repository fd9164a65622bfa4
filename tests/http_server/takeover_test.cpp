// A connection handed over by response::take_over() keeps its place in the server's
// count while its connection_slot lives (issue #16, bug 9: upgraded connections stopped
// counting towards max_connections).
#include "common.hpp"

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace http = sluice::http;
using test::parse_responses;
using test::raw_client;


TEST_CASE("http server: a taken-over connection counts until its slot is destroyed") {
    http::server_settings s;
    s.max_connections = 1;
    test::http_fixture f(s);
    std::vector<http::response::takeover> taken;
    f.server.on_request([&](const http::request_view& req, http::response& res) {
        if (req.path() != "/up") return res.end("plain");
        taken.push_back(res.take_over(test::other_protocol_switch));
    });
    f.listen();
    raw_client a(f.loop, f.port);
    a.send(std::string(test::other_protocol_request) + "early bytes");
    REQUIRE(f.loop.run_until([&] { return taken.size() == 1; }));
    REQUIRE_FALSE(taken[0].ec);
    CHECK(taken[0].slot);
    CHECK(taken[0].rest == "early bytes");
    CHECK(taken[0].stream.is_open());
    CHECK(f.server.connections() == 1);

    // The place is still taken: a second connection is refused.
    raw_client b(f.loop, f.port);
    b.send(test::get_request("/plain"));
    REQUIRE(f.loop.run_until([&] { return b.closed; }));
    CHECK(b.in.empty());
    CHECK(f.server.rejected_connections() == 1);
    CHECK(f.server.connections() == 1);

    // Moving the slot keeps the place; destroying it frees it.
    http::connection_slot moved = std::move(taken[0].slot);
    CHECK_FALSE(taken[0].slot);
    CHECK(f.server.connections() == 1);
    moved.reset();
    CHECK(f.server.connections() == 0);
    raw_client c(f.loop, f.port);
    c.send(test::get_request("/plain"));
    REQUIRE(f.loop.run_until([&] { return parse_responses(c.in).size() == 1; }));
    CHECK(parse_responses(c.in)[0].body == "plain");
}

TEST_CASE("http server: a connection slot may outlive the server") {
    test::bounded_loop loop;
    auto srv = std::make_unique<http::server>(loop);
    http::response::takeover t;
    bool got = false;
    srv->on_request([&](const http::request_view&, http::response& res) {
        t = res.take_over(test::other_protocol_switch);
        got = true;
    });
    REQUIRE_FALSE(srv->listen(sluice::endpoint::loopback_v4(0)));
    std::error_code ec;
    const std::uint16_t port = srv->local_endpoint(ec).port();
    raw_client c(loop, port);
    c.send(test::other_protocol_request);
    REQUIRE(loop.run_until([&] { return got; }));
    REQUIRE_FALSE(t.ec);
    CHECK(srv->connections() == 1);
    srv.reset(); // the handed-over stream is not the server's: it stays open
    CHECK(t.stream.is_open());
    t.stream.write("still here");
    REQUIRE(loop.run_until([&] { return c.in.find("still here") != std::string::npos; }));
    t.slot.reset(); // nothing left to count in
    t.stream.close();
}

TEST_CASE("http server: take_over from the head-first handler") {
    test::http_fixture f;
    std::vector<http::response::takeover> taken;
    f.server.on_request_stream(
        [&](const http::request_view&, http::body_reader& body, http::response& res) {
            CHECK(body.length() == 0); // an upgrade request without a body
            taken.push_back(res.take_over(test::other_protocol_switch));
        });
    f.listen();
    raw_client c(f.loop, f.port);
    c.send(std::string(test::other_protocol_request) + "after");
    REQUIRE(f.loop.run_until([&] { return taken.size() == 1; }));
    REQUIRE_FALSE(taken[0].ec);
    CHECK(taken[0].rest == "after");
    CHECK(f.server.connections() == 1);
    REQUIRE(f.loop.run_until([&] { return c.in.find("101 Switching") == 9; }));
    taken.clear();
    CHECK(f.server.connections() == 0);
}
