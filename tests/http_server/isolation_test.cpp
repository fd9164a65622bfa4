// Connections of one server never see each other's bytes, whichever handler ends
// whichever response (issue #16, bug 1).
#include "common.hpp"

#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace http = sluice::http;
using test::parse_responses;
using test::raw_client;

TEST_CASE("http server: a handler that ends another connection's response leaks nothing") {
    // B holds two pipelined requests; with max_pipelined = 1 the second one waits behind
    // the first. A's handler ends B's first response (which lets B's second request in)
    // and answers A, in either order. Each connection gets exactly its own bytes.
    for (bool own_first : {false, true}) {
        CAPTURE(own_first);
        http::server_settings s;
        s.max_pipelined = 1;
        test::http_fixture f(s);
        std::vector<http::response> held;
        f.server.on_request([&](const http::request_view& req, http::response& res) {
            if (req.path() == "/hold") {
                held.push_back(std::move(res));
                return;
            }
            REQUIRE(held.size() == 1);
            http::response b = std::move(held[0]);
            if (own_first) res.end("SECRET");
            b.end("for-b-1");
            if (!own_first) res.end("SECRET");
            // The request B's answer let in was dispatched, its views intact.
            CHECK(req.path() == "/secret");
            CHECK(req.get("X-Who") == "a");
        });
        f.listen();
        raw_client b(f.loop, f.port);
        b.send(test::get_request("/hold", "X-Who: b\r\n") +
               test::get_request("/hold", "X-Who: b\r\n"));
        REQUIRE(f.loop.run_until([&] { return held.size() == 1; }));
        f.loop.run_for(20ms);
        REQUIRE(held.size() == 1); // the second /hold waits for the first answer

        raw_client a(f.loop, f.port);
        a.send(test::get_request("/secret", "X-Who: a\r\n"));
        REQUIRE(f.loop.run_until(
            [&] { return parse_responses(a.in).size() == 1 && held.size() == 2; }));
        held[1].end("for-b-2");
        REQUIRE(f.loop.run_until([&] { return parse_responses(b.in).size() == 2; }));
        f.loop.run_for(20ms);

        auto ra = parse_responses(a.in);
        auto rb = parse_responses(b.in);
        REQUIRE(ra.size() == 1);
        CHECK(ra[0].body == "SECRET");
        REQUIRE(rb.size() == 2);
        CHECK(rb[0].body == "for-b-1");
        CHECK(rb[1].body == "for-b-2");
        CHECK(b.in.find("SECRET") == std::string::npos);
    }
}
