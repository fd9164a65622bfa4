// Coroutine routes (C++20): co_route and co_stream_route on a real server (loopback),
// behind the same middlewares as callback routes.
#include "../http_server/common.hpp"

#include <sluice/coro.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace http = sluice::http;
using namespace std::chrono_literals;

TEST_CASE("router: coroutine routes, buffered and streamed, after the middlewares") {
    test::http_fixture f;
    http::router r;
    int middleware_runs = 0;
    r.use([&](http::route_request&, http::response& res, http::route_next& next) {
        ++middleware_runs;
        res.header("X-Mw", "1");
        next();
    });
    REQUIRE_FALSE(r.post("/items/{id}", http::co_route(f.loop, [](http::routed_request req,
                                                                   http::response res)
                                                                    -> sluice::task<void> {
        co_await sluice::sleep_for(5ms); // the request is the coroutine's own across this
        std::string q;
        req.query_param("q", q);
        res.end(std::string(req.param("id")) + " " + req.pattern + " " + q + " " + req.body);
    })));
    REQUIRE_FALSE(r.stream("POST", "/count", http::co_stream_route(f.loop, [](http::routed_request,
                                                                              http::body_reader body,
                                                                              http::response res)
                                                                               -> sluice::task<void> {
        std::size_t n = 0;
        for (;;) {
            auto piece = co_await body.read();
            if (piece.ec == sluice::error::eof) break;
            if (piece.ec) co_return res.status(500).end();
            n += piece.value.size();
        }
        res.end(std::to_string(n));
    })));
    r.attach(f.server);
    f.listen();

    test::raw_client c(f.loop, f.port);
    const std::string big(300000, 'b');
    c.send("POST /items/a%20b?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
           "POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n" + big);
    std::vector<test::parsed_response> got;
    f.loop.run_until([&] { return (got = test::parse_responses(c.in)).size() >= 2; });
    REQUIRE(got.size() == 2);
    CHECK(got[0].body == "a b /items/{id} 1 body");
    CHECK(got[0].get("X-Mw") == "1");
    CHECK(got[1].body == "300000");
    CHECK(got[1].get("X-Mw") == "1");
    CHECK(middleware_runs == 2);
}
